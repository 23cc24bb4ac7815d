import CCurl
import Foundation
import Synchronization

/// `curl_global_init` exactly once, before any handle exists. OpenSSL's atexit cleanup is switched off first
/// so it cannot race a transfer thread at exit (swift-corelibs-foundation #5469).
private let globalInit: Void = {
    typealias InitCrypto = @convention(c) (UInt64, UnsafeRawPointer?) -> Int32
    // RTLD_DEFAULT is a null handle on Linux.
    if let symbol = dlsym(nil, "OPENSSL_init_crypto") {
        let initCrypto = unsafeBitCast(symbol, to: InitCrypto.self)
        _ = initCrypto(0x0008_0000, nil) // OPENSSL_INIT_NO_ATEXIT
    }
    curl_global_init(Int(CURL_GLOBAL_ALL))
}()

/// One libcurl multi handle driven by its own thread, never by the two-thread cooperative pool.
///
/// Callers hand a request to `perform`, which queues it in a mutex-guarded inbox and wakes the thread with
/// `curl_multi_wakeup`; the thread adds it, runs `curl_multi_perform`/`curl_multi_poll`, and resumes the caller's
/// continuation when the transfer is done. Every curl handle is touched only on that thread: this is the one type
/// that does its own confinement, hence `@unchecked Sendable`. Connections are cached by the multi handle and reused
/// across transfers to the same host.
public final class CurlMultiLoop: @unchecked Sendable {
    private struct Job {
        var request: CurlRequest
        var continuation: CheckedContinuation<CurlResponse, any Error>
    }

    private struct Inbox {
        var jobs: [Job] = []
        var stopping = false
    }

    private let multi: OpaquePointer
    private let inbox = Mutex(Inbox())
    private let finished = DispatchSemaphore(value: 0)
    private var thread: Thread?
    /// Total new connections opened, for tests and metrics (reuse check).
    private let connections = Mutex(0)

    public init(maxConnectionsPerHost: Int = 8) {
        _ = globalInit
        multi = curl_multi_init()
        ccurl_multi_setopt_long(multi, CURLMOPT_MAX_HOST_CONNECTIONS, maxConnectionsPerHost)
        let thread = Thread { [unowned self] in self.run() }
        thread.name = "rom-curl"
        self.thread = thread
        thread.start()
    }

    deinit {
        shutdown()
        curl_multi_cleanup(multi)
    }

    /// New connections opened so far (each transfer adds `CURLINFO_NUM_CONNECTS`).
    public var connectionsOpened: Int { connections.withLock { $0 } }

    /// Performs `request`; returns the response, or throws `CurlError` for a transfer that did not complete.
    public func perform(_ request: CurlRequest) async throws -> CurlResponse {
        try await withCheckedThrowingContinuation { continuation in
            let accepted = inbox.withLock { inbox -> Bool in
                guard !inbox.stopping else { return false }
                inbox.jobs.append(Job(request: request, continuation: continuation))
                return true
            }
            if accepted {
                curl_multi_wakeup(multi)
            } else {
                continuation.resume(throwing: CurlError(code: -1, message: "the curl loop is shut down"))
            }
        }
    }

    /// Finishes transfers in flight, then stops the thread. Safe to call more than once.
    public func shutdown() {
        let first = inbox.withLock { inbox -> Bool in
            defer { inbox.stopping = true }
            return !inbox.stopping
        }
        guard first else { return }
        curl_multi_wakeup(multi)
        finished.wait()
    }

    private func run() {
        var active: [OpaquePointer: Transfer] = [:]
        while true {
            let (jobs, stopping) = inbox.withLock { inbox -> ([Job], Bool) in
                defer { inbox.jobs.removeAll() }
                return (inbox.jobs, inbox.stopping)
            }
            for job in jobs {
                let transfer = Transfer(request: job.request, continuation: job.continuation)
                if let failure = transfer.configure() {
                    job.continuation.resume(throwing: failure)
                    continue
                }
                active[transfer.handle] = transfer
                curl_multi_add_handle(multi, transfer.handle)
            }
            var running: Int32 = 0
            curl_multi_perform(multi, &running)
            var queued: Int32 = 0
            while let message = curl_multi_info_read(multi, &queued) {
                guard message.pointee.msg == CURLMSG_DONE, let handle = message.pointee.easy_handle,
                      let transfer = active.removeValue(forKey: handle) else { continue }
                let code = message.pointee.data.result
                curl_multi_remove_handle(multi, handle)
                let (result, opened) = transfer.finish(code: code)
                connections.withLock { $0 += opened }
                transfer.continuation.resume(with: result)
            }
            if stopping && active.isEmpty {
                let leftovers = inbox.withLock { inbox -> [Job] in
                    defer { inbox.jobs.removeAll() }
                    return inbox.jobs
                }
                for job in leftovers { job.continuation.resume(throwing: CurlError(code: -1, message: "the curl loop is shut down")) }
                break
            }
            curl_multi_poll(multi, nil, 0, 1000, nil)
        }
        finished.signal()
    }
}

/// One easy handle and the buffers it reads from and writes to; lives on the curl thread only.
private final class Transfer {
    let handle: OpaquePointer
    let request: CurlRequest
    let continuation: CheckedContinuation<CurlResponse, any Error>
    private let errorBuffer = UnsafeMutablePointer<CChar>.allocate(capacity: Int(CURL_ERROR_SIZE))
    private var headerList: UnsafeMutablePointer<curl_slist>?
    private var recipientList: UnsafeMutablePointer<curl_slist>?
    private var upload: [UInt8] = []
    private var uploadOffset = 0
    var body: [UInt8] = []
    var headers: [(String, String)] = []

    init(request: CurlRequest, continuation: CheckedContinuation<CurlResponse, any Error>) {
        self.handle = curl_easy_init()
        self.request = request
        self.continuation = continuation
        errorBuffer.initialize(repeating: 0, count: Int(CURL_ERROR_SIZE))
    }

    deinit {
        curl_easy_cleanup(handle)
        curl_slist_free_all(headerList)
        curl_slist_free_all(recipientList)
        errorBuffer.deallocate()
    }

    /// Sets every option; returns an error when libcurl refuses one.
    func configure() -> CurlError? {
        let context = Unmanaged.passUnretained(self).toOpaque()
        var codes: [CURLcode] = [
            ccurl_easy_setopt_string(handle, CURLOPT_URL, request.url),
            ccurl_easy_setopt_long(handle, CURLOPT_NOSIGNAL, 1),
            ccurl_easy_setopt_long(handle, CURLOPT_CONNECTTIMEOUT_MS, request.connectTimeoutMilliseconds),
            ccurl_easy_setopt_long(handle, CURLOPT_TIMEOUT_MS, request.timeoutMilliseconds),
            ccurl_easy_setopt_pointer(handle, CURLOPT_ERRORBUFFER, errorBuffer),
            ccurl_easy_setopt_pointer(handle, CURLOPT_WRITEDATA, context),
            ccurl_easy_setopt_write_callback(handle, CURLOPT_WRITEFUNCTION, writeCallback),
            ccurl_easy_setopt_pointer(handle, CURLOPT_HEADERDATA, context),
            ccurl_easy_setopt_write_callback(handle, CURLOPT_HEADERFUNCTION, headerCallback),
            ccurl_easy_setopt_long(handle, CURLOPT_FOLLOWLOCATION, 0),
            ccurl_easy_setopt_long(handle, CURLOPT_SSL_VERIFYPEER, 1),
            ccurl_easy_setopt_long(handle, CURLOPT_SSL_VERIFYHOST, 2),
        ]
        if let ca = request.caBundle { codes.append(ccurl_easy_setopt_string(handle, CURLOPT_CAINFO, ca)) }
        switch request.payload {
        case .http(let method, let headerFields, let body):
            // An empty Expect stops libcurl waiting a second for `100 Continue` on bodies over 1 KiB.
            for (name, value) in headerFields + [("Expect", "")] {
                headerList = curl_slist_append(headerList, "\(name): \(value)")
            }
            codes.append(ccurl_easy_setopt_slist(handle, CURLOPT_HTTPHEADER, headerList))
            if method == "GET" {
                codes.append(ccurl_easy_setopt_long(handle, CURLOPT_HTTPGET, 1))
            } else {
                codes.append(ccurl_easy_setopt_off_t(handle, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(body.count)))
                if body.isEmpty {
                    codes.append(ccurl_easy_setopt_string(handle, CURLOPT_COPYPOSTFIELDS, ""))
                } else {
                    codes.append(body.withUnsafeBytes { ccurl_easy_setopt_pointer(handle, CURLOPT_COPYPOSTFIELDS, UnsafeMutableRawPointer(mutating: $0.baseAddress!)) })
                }
                if method != "POST" { codes.append(ccurl_easy_setopt_string(handle, CURLOPT_CUSTOMREQUEST, method)) }
            }
        case .smtp(let envelope):
            upload = envelope.message
            for recipient in envelope.recipients { recipientList = curl_slist_append(recipientList, "<\(recipient)>") }
            codes += [
                ccurl_easy_setopt_string(handle, CURLOPT_MAIL_FROM, "<\(envelope.from)>"),
                ccurl_easy_setopt_slist(handle, CURLOPT_MAIL_RCPT, recipientList),
                ccurl_easy_setopt_long(handle, CURLOPT_UPLOAD, 1),
                ccurl_easy_setopt_pointer(handle, CURLOPT_READDATA, context),
                ccurl_easy_setopt_read_callback(handle, readCallback),
                ccurl_easy_setopt_off_t(handle, CURLOPT_INFILESIZE_LARGE, curl_off_t(upload.count)),
            ]
            switch envelope.security {
            case .requireStartTLS: codes.append(ccurl_easy_setopt_long(handle, CURLOPT_USE_SSL, Int(CURLUSESSL_ALL.rawValue)))
            case .implicitTLS, .none: break
            }
            if let username = envelope.username { codes.append(ccurl_easy_setopt_string(handle, CURLOPT_USERNAME, username)) }
            if let password = envelope.password { codes.append(ccurl_easy_setopt_string(handle, CURLOPT_PASSWORD, password)) }
        }
        if let failed = codes.first(where: { $0 != CURLE_OK }) {
            return CurlError(code: Int32(failed.rawValue), message: String(cString: curl_easy_strerror(failed)))
        }
        return nil
    }

    func finish(code: CURLcode) -> (Result<CurlResponse, any Error>, Int) {
        var connects = 0
        _ = ccurl_easy_getinfo_long(handle, CURLINFO_NUM_CONNECTS, &connects)
        guard code == CURLE_OK else {
            let detail = errorBuffer.pointee != 0 ? String(cString: errorBuffer) : String(cString: curl_easy_strerror(code))
            return (.failure(CurlError(code: Int32(code.rawValue), message: detail)), connects)
        }
        var status = 0
        _ = ccurl_easy_getinfo_long(handle, CURLINFO_RESPONSE_CODE, &status)
        return (.success(CurlResponse(status: status, headers: headers, body: body, newConnections: connects)), connects)
    }

    /// One header line as libcurl hands it over (with its CRLF). Parsed on bytes: Foundation's trimming bridges
    /// through NSString and cost ~5 % of a dispatch pass in the profile.
    fileprivate func receiveHeader(_ line: UnsafeBufferPointer<UInt8>) {
        let trimmed = trimHeaderSpace(line[...])
        if trimmed.starts(with: "HTTP/".utf8) {
            headers.removeAll() // a new response (100 Continue, redirect) starts over
            return
        }
        guard let colon = trimmed.firstIndex(of: UInt8(ascii: ":")) else { return }
        let name = trimmed[..<colon].map { $0 >= 65 && $0 <= 90 ? $0 + 32 : $0 }
        headers.append((String(decoding: name, as: UTF8.self), String(decoding: trimHeaderSpace(trimmed[(colon + 1)...]), as: UTF8.self)))
    }

    fileprivate func read(into buffer: UnsafeMutablePointer<CChar>, capacity: Int) -> Int {
        let count = min(capacity, upload.count - uploadOffset)
        guard count > 0 else { return 0 }
        upload.withUnsafeBytes { bytes in
            UnsafeMutableRawPointer(buffer).copyMemory(from: bytes.baseAddress! + uploadOffset, byteCount: count)
        }
        uploadOffset += count
        return count
    }
}

private let writeCallback: curl_write_callback = { pointer, size, count, context in
    guard let pointer, let context else { return 0 }
    let transfer = Unmanaged<Transfer>.fromOpaque(context).takeUnretainedValue()
    let length = size * count
    pointer.withMemoryRebound(to: UInt8.self, capacity: length) { transfer.body.append(contentsOf: UnsafeBufferPointer(start: $0, count: length)) }
    return length
}

private let headerCallback: curl_write_callback = { pointer, size, count, context in
    guard let pointer, let context else { return 0 }
    let transfer = Unmanaged<Transfer>.fromOpaque(context).takeUnretainedValue()
    let length = size * count
    pointer.withMemoryRebound(to: UInt8.self, capacity: length) { transfer.receiveHeader(UnsafeBufferPointer(start: $0, count: length)) }
    return length
}

private let readCallback: curl_read_callback = { pointer, size, count, context in
    guard let pointer, let context else { return 0 }
    return Unmanaged<Transfer>.fromOpaque(context).takeUnretainedValue().read(into: pointer, capacity: size * count)
}

/// `bytes` without leading and trailing spaces, tabs, CR and LF.
private func trimHeaderSpace(_ bytes: Slice<UnsafeBufferPointer<UInt8>>) -> Slice<UnsafeBufferPointer<UInt8>> {
    func isSpace(_ byte: UInt8) -> Bool { byte == 32 || byte == 9 || byte == 13 || byte == 10 }
    var start = bytes.startIndex
    var end = bytes.endIndex
    while start < end, isSpace(bytes[start]) { start += 1 }
    while end > start, isSpace(bytes[end - 1]) { end -= 1 }
    return bytes[start..<end]
}
