public import Foundation

/// The fields of a provider's webhook body as strings: JSON (strings and numbers), form-encoded, or
/// multipart/form-data (SendGrid's inbound parse). Shared by inbound SMS and email, delivery receipts, and the
/// reprocessing and inbox views of stored replies.
public enum WebhookFields {
    public static func parse(_ body: [UInt8], contentType: String) -> [String: String] {
        let type = contentType.lowercased()
        if type.hasPrefix("multipart/form-data") {
            guard let boundary = MultipartForm.boundary(fromContentType: contentType) else { return [:] }
            return MultipartForm.parse(body, boundary: boundary) ?? [:]
        }
        if type.contains("json"), let object = try? JSONSerialization.jsonObject(with: Data(body)) as? [String: Any] {
            return object.compactMapValues { value in
                if let text = value as? String { return text }
                if let number = value as? NSNumber { return number.stringValue }
                return nil
            }
        }
        return FormFields.parse(String(decoding: body, as: UTF8.self))
    }
}
