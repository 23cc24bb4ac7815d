import Delivery
import Foundation
import Scheduling

/// Reads `config/gateways.yaml`: the sandbox, webhook (SMS provider) and SMTP gateways.
enum GatewayLoader {
    static func read(_ value: YAMLValue) -> [String: GatewaySettings] {
        guard let root = value.fields(["gateways"], what: "gateways.yaml"),
              let entries = root.required("gateways", hint: "start the file with `gateways:`")?.mapping(what: "gateways") else { return [:] }
        var gateways: [String: GatewaySettings] = [:]
        for (name, entry) in entries {
            if let gateway = readGateway(name: name, entry) { gateways[name] = gateway }
        }
        return gateways
    }

    private static let common = ["kind", "channel", "rate_limit"]
    private static let transportKeys = ["connect_timeout", "timeout", "ca_bundle"]
    private static let webhookKeys = common + transportKeys + ["url", "method", "headers", "body", "content_type", "auth", "signing_secrets",
                                                               "message_id_path", "receipts", "inbound"]
    private static let smtpKeys = common + transportKeys + ["host", "port", "tls", "username", "password", "from", "reply_to", "inbound"]

    private enum Kind: String, CaseIterable {
        case sandbox, webhook, smtp
    }

    private static func readGateway(name: String, _ value: YAMLValue) -> GatewaySettings? {
        let before = value.log.problems.count
        guard let probe = value.mapping(what: "gateway `\(name)`") else { return nil }
        guard let kindValue = probe.first(where: { $0.key == "kind" })?.value else {
            value.problem("gateway `\(name)` has no `kind`", hint: "add `kind: sandbox`, `kind: webhook` or `kind: smtp`")
            return nil
        }
        guard let kind = kindValue.enumValue(Kind.self, what: "gateway kind") else { return nil }
        let allowed: [String]
        switch kind {
        case .sandbox: allowed = common
        case .webhook: allowed = webhookKeys
        case .smtp: allowed = smtpKeys
        }
        guard let f = value.fields(allowed, what: "gateway `\(name)`") else { return nil }
        let channel = f.required("channel", hint: "add `channel: sms` or `channel: email`")?.enumValue(Channel.self, what: "channel")
        var rateLimit: Double?
        if let rate = f.optional("rate_limit"), let number = rate.double(what: "rate_limit (sends per second)") {
            if number > 0 { rateLimit = number } else { rate.problem("rate_limit must be positive", hint: "sends per second, e.g. 10") }
        }

        let settingsKind: GatewaySettings.Kind?
        switch kind {
        case .sandbox:
            settingsKind = .sandbox
        case .webhook:
            settingsKind = readWebhook(f)
            if let channel, channel != .sms {
                f["channel"]?.problem("webhook gateways send SMS", hint: "use `channel: sms`, or `kind: smtp` for email")
            }
        case .smtp:
            settingsKind = readSMTP(f)
            if let channel, channel != .email {
                f["channel"]?.problem("SMTP gateways send email", hint: "use `channel: email`")
            }
        }
        var transport = GatewaySettings.Transport()
        if let connect = f["connect_timeout"]?.duration(what: "connect_timeout") {
            if connect.seconds > 0 && connect.seconds <= 5 { transport.connectTimeoutMilliseconds = Int(connect.seconds) * 1000 } else {
                f["connect_timeout"]?.problem("connect_timeout \(connect) is out of range", hint: "use 1s to 5s")
            }
        }
        if let total = f["timeout"]?.duration(what: "timeout") {
            if total.seconds > 0 && total.seconds <= 30 { transport.timeoutMilliseconds = Int(total.seconds) * 1000 } else {
                f["timeout"]?.problem("timeout \(total) is out of range", hint: "use 1s to 30s, so a hung server cannot hold a send past its lease")
            }
        }
        if let bundle = f["ca_bundle"]?.string(what: "ca_bundle") {
            if FileManager.default.fileExists(atPath: bundle) { transport.caBundle = bundle } else {
                f["ca_bundle"]?.problem("CA bundle `\(bundle)` does not exist", hint: "give the path of a PEM file, or remove ca_bundle to use the system's")
            }
        }
        guard value.log.problems.count == before, let channel, let settingsKind else { return nil }
        var settings = GatewaySettings(name: name, channel: channel, kind: settingsKind, rateLimit: rateLimit)
        settings.transport = transport
        return settings
    }

    private static func readWebhook(_ f: Fields) -> GatewaySettings.Kind? {
        let url = f.required("url")?.string(what: "url")
        if let url, !SettingsLoader.isHTTPURL(url) {
            f["url"]?.problem("`\(url)` is not an http(s) URL", hint: "write the provider's send endpoint, e.g. https://api.example.com/messages")
        }
        let method = f.optional("method")?.string(what: "method")?.uppercased() ?? "POST"
        var headers: [String: String] = [:]
        if let entries = f.optional("headers")?.mapping(what: "headers") {
            for (key, value) in entries {
                if let text = value.string(what: "header `\(key)`") { headers[key] = text }
                if ["authorization", "x-api-key"].contains(key.lowercased()) {
                    value.problem("the header `\(key)` would put a secret in the YAML", hint: "use `auth:` with a secret from env: or file:")
                }
            }
        }
        let body = f.required("body", hint: "a Mustache template of the request body, e.g. `body: '{\"to\":\"{{to}}\",\"text\":\"{{text}}\"}'`")?.string(what: "body")
        let contentType = f.optional("content_type")?.string(what: "content_type") ?? "application/json"
        var auth: GatewaySettings.Auth?
        if let a = f.optional("auth")?.fields(["bearer", "username", "password"], what: "auth") {
            if let bearer = a.optional("bearer") {
                auth = secret(bearer).map { .bearer($0) }
            } else if let username = a.required("username", hint: "give `bearer:` or `username:` and `password:`")?.string(what: "username"),
                      let password = a.required("password")?.flatMapSecret() {
                auth = .basic(username: username, password: password)
            }
        }
        let secrets = f.optional("signing_secrets")?.list(what: "signing_secrets")?.compactMap(secret) ?? []
        var receipts: GatewaySettings.Receipts?
        if let r = f.optional("receipts")?.fields(["id_field", "status_field", "map", "signing_secrets", "signature"], what: "receipts") {
            let idField = r.required("id_field", hint: "the provider's message id field, e.g. MessageSid")?.string(what: "id_field")
            let statusField = r.required("status_field", hint: "the provider's status field, e.g. MessageStatus")?.string(what: "status_field")
            var map: [String: String] = [:]
            for (provider, ours) in r.required("map", hint: "map provider statuses to accepted, delivered or failed")?.mapping(what: "map") ?? [] {
                guard let text = ours.string(what: "status") else { continue }
                if ["accepted", "delivered", "failed"].contains(text) { map[provider] = text } else {
                    ours.problem("`\(text)` is not one of our statuses", hint: "use accepted, delivered or failed")
                }
            }
            let receiptSecrets = r.optional("signing_secrets")?.list(what: "signing_secrets")?.compactMap(secret) ?? []
            let receiptSignature = r.optional("signature")?.enumValue(GatewaySettings.Inbound.Signature.self, what: "signature") ?? .standardWebhooks
            if receiptSecrets.isEmpty {
                r.owner.problem("receipts have no signing_secrets: anyone could mark messages delivered or failed",
                                hint: "add `signing_secrets: [{ env: NAME }]` (with `signature: twilio` for Twilio's X-Twilio-Signature)")
            }
            if let idField, let statusField {
                receipts = GatewaySettings.Receipts(idField: idField, statusField: statusField, map: map, signingSecrets: receiptSecrets,
                                                    signature: receiptSignature)
            }
        }
        var inbound: GatewaySettings.Inbound?
        if let i = f.optional("inbound")?.fields(["signature", "secrets", "id_field", "from_field", "body_field"], what: "inbound") {
            let signature = i.required("signature", hint: "twilio or standard_webhooks")?.enumValue(GatewaySettings.Inbound.Signature.self, what: "signature")
            let inboundSecrets = i.required("secrets", hint: "the auth token or signing secrets, e.g. [{ env: ROM_SMS_AUTH_TOKEN }]")?
                .list(what: "secrets")?.compactMap(secret) ?? []
            if let signature {
                inbound = GatewaySettings.Inbound(signature: signature, secrets: inboundSecrets,
                                                  idField: i.optional("id_field")?.string(what: "id_field") ?? "MessageSid",
                                                  fromField: i.optional("from_field")?.string(what: "from_field") ?? "From",
                                                  bodyField: i.optional("body_field")?.string(what: "body_field") ?? "Body")
            }
        }
        guard let url, let body else { return nil }
        var webhook = GatewaySettings.Webhook(url: url, method: method, headers: headers, body: body, contentType: contentType,
                                              auth: auth, signingSecrets: secrets,
                                              messageIDPath: f.optional("message_id_path")?.string(what: "message_id_path"), receipts: receipts)
        webhook.inbound = inbound
        return .webhook(webhook)
    }

    private static func readSMTP(_ f: Fields) -> GatewaySettings.Kind? {
        let host = f.required("host")?.string(what: "host")
        let tls = f.optional("tls")?.enumValue(GatewaySettings.SMTP.TLSMode.self, what: "tls mode") ?? .starttls
        let port = f.optional("port")?.int(what: "port", range: 1...65_535) ?? (tls == .implicit ? 465 : 587)
        let from = f.required("from", hint: "the sender address, e.g. `from: \"Check-in <no-reply@example.org>\"`")?.string(what: "from")
        let password = f.optional("password").flatMap(secret)
        var inbound: GatewaySettings.InboundEmail?
        if let i = f.optional("inbound")?.fields(["signature", "secrets", "id_field", "to_field", "text_field", "spf_field", "dkim_field", "require_sender_auth"],
                                                  what: "inbound") {
            let signature = i.required("signature", hint: "standard_webhooks or mailgun")?.enumValue(GatewaySettings.InboundEmail.Signature.self, what: "signature")
            let secrets = i.required("secrets", hint: "the webhook signing key, e.g. [{ env: ROM_MAIL_WEBHOOK_KEY }]")?.list(what: "secrets")?.compactMap(secret) ?? []
            if let signature {
                // Defaults are Mailgun's field names; SendGrid is `to`/`text`, Postmark `OriginalRecipient`/`TextBody`/`MessageID`.
                inbound = GatewaySettings.InboundEmail(signature: signature, secrets: secrets,
                                                       idField: i.optional("id_field")?.string(what: "id_field") ?? "Message-Id",
                                                       toField: i.optional("to_field")?.string(what: "to_field") ?? "recipient",
                                                       textField: i.optional("text_field")?.string(what: "text_field") ?? "body-plain")
                if let field = i.optional("spf_field")?.string(what: "spf_field") { inbound?.spfField = field }
                if let field = i.optional("dkim_field")?.string(what: "dkim_field") { inbound?.dkimField = field }
                if i.optional("require_sender_auth")?.bool(what: "require_sender_auth") == false {
                    inbound?.spfField = nil
                    inbound?.dkimField = nil
                }
            }
        }
        let replyTo = f.optional("reply_to")?.string(what: "reply_to")
        if inbound != nil, !(replyTo ?? "").contains("+{token}@") {
            (f["reply_to"] ?? f["inbound"])?.problem("replies by email need a reply address that carries each message's token",
                                                     hint: "write e.g. `reply_to: reply+{token}@in.example.org` (the domain your provider parses)")
        }
        guard let host, let from else { return nil }
        var smtp = GatewaySettings.SMTP(host: host, port: port, tls: tls, username: f.optional("username")?.string(what: "username"),
                                        password: password, from: from, replyTo: replyTo)
        smtp.inbound = inbound
        return .smtp(smtp)
    }

    /// `{ env: NAME }` or `{ file: PATH }`; a literal value is refused so secrets never sit in the YAML.
    static func secret(_ value: YAMLValue) -> SecretReference? {
        if value.isScalar {
            value.problem("secrets are not written in config files",
                          hint: "write `{ env: ROM_GATEWAY_TOKEN }` or `{ file: /run/secrets/gateway-token }` and put the value there")
            return nil
        }
        guard let f = value.fields(["env", "file"], what: "a secret") else { return nil }
        if let name = f.optional("env")?.string(what: "env") { return .environment(name) }
        if let path = f.optional("file")?.string(what: "file") { return .file(path) }
        value.problem("the secret names neither `env` nor `file`", hint: "write `{ env: NAME }` or `{ file: PATH }`")
        return nil
    }
}

private extension YAMLValue {
    func flatMapSecret() -> SecretReference? { GatewayLoader.secret(self) }
}
