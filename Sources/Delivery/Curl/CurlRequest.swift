/// One outbound call through libcurl: an HTTP request to a provider, or one message to an SMTP server.
public struct CurlRequest: Sendable {
    public enum Payload: Sendable {
        case http(method: String, headers: [(String, String)], body: [UInt8])
        case smtp(SMTPEnvelope)
    }

    /// `https://…`, `smtp://host:587/helo-domain` or `smtps://host:465/helo-domain`.
    public var url: String
    public var payload: Payload
    /// Bounds on every call (R8): connect ≤ 5 s and total ≤ 30 s by default.
    public var connectTimeoutMilliseconds: Int
    public var timeoutMilliseconds: Int
    /// A CA bundle to trust instead of the system's (tests pin their own CA).
    public var caBundle: String?

    public init(url: String, payload: Payload, connectTimeoutMilliseconds: Int = 5_000, timeoutMilliseconds: Int = 30_000, caBundle: String? = nil) {
        self.url = url
        self.payload = payload
        self.connectTimeoutMilliseconds = connectTimeoutMilliseconds
        self.timeoutMilliseconds = timeoutMilliseconds
        self.caBundle = caBundle
    }
}

/// Who an SMTP message is from and to, how the connection is secured, and the RFC 5322 message itself.
public struct SMTPEnvelope: Sendable {
    public enum Security: Sendable, Equatable {
        /// STARTTLS required: the send fails rather than continue in clear (`CURLUSESSL_ALL`).
        case requireStartTLS
        /// TLS from the first byte (`smtps://`).
        case implicitTLS
        /// Plain text, only when configured explicitly.
        case none
    }

    public var from: String
    public var recipients: [String]
    /// CRLF line endings; libcurl dot-stuffs.
    public var message: [UInt8]
    public var security: Security
    public var username: String?
    public var password: String?

    public init(from: String, recipients: [String], message: [UInt8], security: Security, username: String?, password: String?) {
        self.from = from
        self.recipients = recipients
        self.message = message
        self.security = security
        self.username = username
        self.password = password
    }
}

/// What came back.
public struct CurlResponse: Sendable {
    /// HTTP status, or the last SMTP reply code.
    public var status: Int
    /// Header lines of the final response, names lower-cased.
    public var headers: [(String, String)]
    public var body: [UInt8]
    /// New connections this transfer opened (0 when it reused one).
    public var newConnections: Int

    public func header(_ name: String) -> String? {
        let wanted = name.lowercased()
        return headers.last { $0.0 == wanted }?.1
    }
}

/// A transfer that did not complete: libcurl's code and message.
public struct CurlError: Error, Sendable, CustomStringConvertible {
    public var code: Int32
    public var message: String

    public init(code: Int32, message: String) {
        self.code = code
        self.message = message
    }

    /// CURLE_COULDNT_RESOLVE_HOST 6, COULDNT_CONNECT 7, OPERATION_TIMEDOUT 28, SEND_ERROR 55, RECV_ERROR 56, GOT_NOTHING 52.
    public var isTimeout: Bool { code == 28 }

    /// A reason code to log and store: the curl error number and, for SMTP, the server's reply code — never the
    /// server's text, which often repeats the recipient's address.
    public var reasonCode: String {
        if isTimeout { return "timeout" }
        if let smtp = smtpReplyCode { return "smtp_\(smtp) (curl \(code))" }
        return "network: curl \(code)"
    }

    /// The three-digit SMTP reply in curl's message (`RCPT failed: 550 …`), if any.
    public var smtpReplyCode: Int? {
        for part in message.split(separator: ":").dropFirst() {
            let digits = part.drop(while: { $0 == " " }).prefix(3)
            if digits.count == 3, let value = Int(digits), (200...599).contains(value) { return value }
        }
        return nil
    }
    /// STARTTLS was required and the server does not offer it (CURLE_USE_SSL_FAILED).
    public var isTLSRequiredFailure: Bool { code == 64 }
    /// Certificate or TLS handshake problems (CURLE_PEER_FAILED_VERIFICATION 60, SSL_CONNECT_ERROR 35).
    public var isTLSFailure: Bool { code == 60 || code == 35 || code == 77 || code == 83 }
    /// SMTP recipient refused (CURLE_LOGIN_DENIED 67 is auth; 55 send error; RCPT failures surface as 55 with a message).
    public var description: String { "curl error \(code): \(message)" }
}
