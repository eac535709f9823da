//! MAS's extra template filters, written here from their documented behaviour (contract §15.1).
//!
//! Operators' templates use them on provider-specific claims: Apple sends the user as JSON in a
//! callback parameter (`from_json`), some providers pack attributes as base64 TLV records
//! (`b64decode | tlvdecode`). The error texts are MAS's, because they are what an operator sees
//! in MAS's logs; minijinja prefixes them with its error kind (`invalid operation: …`).

use std::collections::BTreeMap;

use base64::{
    Engine as _,
    engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD},
};
use minijinja::{Error, ErrorKind, Value, value::ValueKind};

/// `b64decode`: a base64 string to bytes, trying the standard and URL-safe alphabets, padded
/// first, then unpadded.
///
/// # Errors
///
/// `Failed to decode base64 string` when no alphabet decodes it.
pub fn b64decode(value: &str) -> Result<Value, Error> {
    [STANDARD, URL_SAFE, STANDARD_NO_PAD, URL_SAFE_NO_PAD]
        .iter()
        .find_map(|engine| engine.decode(value).ok())
        .map(Value::from_bytes)
        .ok_or_else(|| {
            Error::new(
                ErrorKind::InvalidOperation,
                "Failed to decode base64 string",
            )
        })
}

/// `b64encode`: bytes (or a string's UTF-8 bytes) to standard, padded base64.
pub fn b64encode(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

/// `tlvdecode`: bytes to a map from tag to value. Each record is a one-byte tag, a one-byte
/// length and that many bytes; a later record with the same tag replaces an earlier one.
///
/// # Errors
///
/// `Invalid ILV encoding` when a record is cut short.
pub fn tlvdecode(bytes: &[u8]) -> Result<Value, Error> {
    let invalid = || Error::new(ErrorKind::InvalidOperation, "Invalid ILV encoding");
    let mut records = BTreeMap::new();
    let mut rest = bytes;
    while let [tag, len, tail @ ..] = rest {
        let len = usize::from(*len);
        let value = tail.get(..len).ok_or_else(invalid)?;
        records.insert(*tag, Value::from_bytes(value.to_vec()));
        rest = &tail[len..];
    }
    if !rest.is_empty() {
        return Err(invalid());
    }
    Ok(Value::from_iter(records))
}

/// `string`: replaces minijinja's builtin so that bytes become text (invalid UTF-8 replaced)
/// instead of a byte-string literal; every other value renders as it would in the output.
pub fn string(value: &Value) -> Value {
    match value.kind() {
        ValueKind::String => value.clone(),
        ValueKind::Bytes => value
            .as_bytes()
            .map(|b| Value::from(String::from_utf8_lossy(b).into_owned()))
            .unwrap_or_default(),
        _ => Value::from(value.to_string()),
    }
}

/// `from_json`: a JSON string to a value.
///
/// # Errors
///
/// `Failed to decode JSON` when the string is not JSON.
pub fn from_json(value: &str) -> Result<Value, Error> {
    serde_json::from_str::<serde_json::Value>(value)
        .map(Value::from_serialize)
        .map_err(|_| Error::new(ErrorKind::InvalidOperation, "Failed to decode JSON"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn b64decode_accepts_every_documented_alphabet() {
        // "hi?>" encodes with `+`/`/` in the standard alphabet and `-`/`_` in the URL-safe one.
        for text in ["aGk/Pg==", "aGk_Pg==", "aGk/Pg", "aGk_Pg"] {
            assert_eq!(b64decode(text).unwrap().as_bytes(), Some(&b"hi?>"[..]));
        }
        assert_eq!(
            b64decode("*").unwrap_err().detail(),
            Some("Failed to decode base64 string")
        );
    }

    #[test]
    fn tlvdecode_reads_records_and_refuses_a_cut_record() {
        let map = tlvdecode(&[1, 2, b'a', b'b', 7, 0]).unwrap();
        assert_eq!(
            map.get_item(&Value::from(1)).unwrap().as_bytes(),
            Some(&b"ab"[..])
        );
        assert_eq!(
            map.get_item(&Value::from(7)).unwrap().as_bytes(),
            Some(&[][..])
        );
        for cut in [&[1u8][..], &[1, 3, b'a']] {
            assert_eq!(
                tlvdecode(cut).unwrap_err().detail(),
                Some("Invalid ILV encoding")
            );
        }
    }

    #[test]
    fn string_turns_bytes_into_lossy_text() {
        assert_eq!(
            string(&Value::from_bytes(vec![b'o', b'k', 0xff])).as_str(),
            Some("ok\u{fffd}")
        );
        assert_eq!(string(&Value::from(())).as_str(), Some("none"));
    }

    #[test]
    fn from_json_reports_mas_text() {
        assert_eq!(
            from_json("{").unwrap_err().detail(),
            Some("Failed to decode JSON")
        );
    }
}
