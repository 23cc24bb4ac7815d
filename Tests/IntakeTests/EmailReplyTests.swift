import Intake
import PropertyBased
import Testing

@Suite("Email replies as mail clients send them")
struct EmailReplyTests {
    @Test("The reply token comes from a reply+<token>@ address wherever it sits in the To field", arguments: [
        ("reply+abcdefghijklmnop1234@in.example.org", "abcdefghijklmnop1234"),
        ("Check-in <reply+abcdefghijklmnop_-34@in.example.org>", "abcdefghijklmnop_-34"),
        ("team@example.org, \"Check-in\" <Reply+ABCDEFGHIJKLMNOP1234@in.example.org>", "ABCDEFGHIJKLMNOP1234"),
    ])
    func token(to: String, expected: String) {
        #expect(EmailReply.replyToken(in: to) == expected)
    }

    @Test("No token: a plain address, a short or odd token", arguments: ["reply@in.example.org", "reply+short@in.example.org", "reply+abc/def..ghijklmnopq@x.org", ""])
    func noToken(to: String) {
        #expect(EmailReply.replyToken(in: to) == nil)
    }

    @Test("Quoted history is dropped: Gmail, Outlook, '>' quotes, signatures and mobile footers", arguments: [
        ("1 2 3\n\nOn Mon, 2 Nov 2026 at 09:00, Check-in <c@example.org> wrote:\n> Hi", "1 2 3"),
        ("1 2 3\r\nOn Mon, 2 Nov 2026 at 09:00, Check-in\r\n<c@example.org> wrote:\r\n> Hi", "1 2 3"),
        ("1 2 3\n-----Original Message-----\nFrom: Check-in", "1 2 3"),
        ("1 2 3\n________________________________\nFrom: Check-in <c@example.org>\nSent: Monday", "1 2 3"),
        ("1 2 3\n\nFrom: Check-in <c@example.org>\nSent: 2 Nov", "1 2 3"),
        ("1 2 3\n-- \nAna", "1 2 3"),
        ("1 2 3\n\nSent from my iPhone", "1 2 3"),
        ("> quoted only", ""),
    ])
    func quotes(text: String, expected: String) {
        #expect(EmailReply.stripQuoted(text) == expected)
    }

    @Test("Answers are read past a short greeting or sign-off, but a wish to stop or a longer note keeps the whole text", arguments: [
        ("Hi\n0 1 2 3\nThanks, Ana", "0 1 2 3"),
        ("P4 1 2\nP5 3 4\nBest wishes", "P4 1 2\nP5 3 4"),
        ("0 1 2\nplease stop", "0 1 2\nplease stop"),
        ("0 1 2\nI have had a really hard week and want to talk", "0 1 2\nI have had a really hard week and want to talk"),
        ("STOP", "STOP"),
    ])
    func answerText(text: String, expected: String) {
        #expect(EmailReply.answerText(text) == expected)
    }

    @Test("Multipart form data as SendGrid posts it: text fields by name, files skipped, CRLF kept inside values")
    func multipart() {
        let body = "--XyZ\r\nContent-Disposition: form-data; name=\"to\"\r\n\r\nreply+abc@in.example.org\r\n" +
            "--XyZ\r\nContent-Disposition: form-data; name=\"text\"\r\n\r\n1 2 3\r\nThanks\r\n" +
            "--XyZ\r\nContent-Disposition: form-data; name=\"attachment1\"; filename=\"a.txt\"\r\nContent-Type: text/plain\r\n\r\nfile\r\n--XyZ--\r\n"
        #expect(MultipartForm.boundary(fromContentType: "multipart/form-data; boundary=XyZ") == "XyZ")
        #expect(MultipartForm.boundary(fromContentType: "multipart/form-data; charset=utf-8; boundary=\"XyZ\"") == "XyZ")
        let fields = MultipartForm.parse(Array(body.utf8), boundary: "XyZ")
        #expect(fields == ["to": "reply+abc@in.example.org", "text": "1 2 3\r\nThanks"])
        #expect(MultipartForm.parse(Array("no boundary here".utf8), boundary: "XyZ") == nil)
    }

    @Test("Any bytes: the multipart reader and the quote stripper never crash, and stripping never adds text")
    func neverCrash() async {
        let alphabet = Array("-XyZ\r\n\"=;: >abcOnwrote")
        await propertyCheck(count: 300, input: Gen.int(in: 0...(alphabet.count - 1)).array(of: 0...200)) { picks in
            let text = String(picks.map { alphabet[$0] })
            _ = MultipartForm.parse(Array(text.utf8), boundary: "XyZ")
            #expect(EmailReply.stripQuoted(text).count <= text.count)
        }
    }
}
