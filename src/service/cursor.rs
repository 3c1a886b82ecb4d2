//! Opaque, tamper-evident cursors: a base64url JSON payload plus an HMAC-SHA256 over the
//! payload and what the cursor is bound to (account, filters), so an altered cursor, or one
//! used by another account or with other filters, is refused.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use serde::{Serialize, de::DeserializeOwned};
use sha2::Sha256;

use super::error::ServiceError;

/// The longest cursor accepted, in bytes.
pub const MAX_CURSOR_BYTES: usize = 4096;

/// Seals and opens cursors with a server-side key.
#[derive(Clone)]
pub struct CursorCodec {
    key: [u8; 32],
}

impl std::fmt::Debug for CursorCodec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CursorCodec([redacted])")
    }
}

fn invalid() -> ServiceError {
    ServiceError::InvalidCursor
}

impl CursorCodec {
    pub fn new(key: [u8; 32]) -> Self {
        Self { key }
    }

    fn mac(&self, binding: &str, payload: &[u8]) -> Hmac<Sha256> {
        // HMAC accepts keys of any length.
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.key)
            .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
        mac.update(&(binding.len() as u64).to_be_bytes());
        mac.update(binding.as_bytes());
        mac.update(payload);
        mac
    }

    /// # Errors
    /// `Internal` when the position does not serialise (a bug): never an empty cursor.
    pub fn seal<T: Serialize>(&self, binding: &str, value: &T) -> Result<String, ServiceError> {
        let payload = serde_json::to_vec(value).map_err(|e| {
            ServiceError::Internal(anyhow::anyhow!("a cursor cannot be sealed: {e}"))
        })?;
        let tag = self.mac(binding, &payload).finalize().into_bytes();
        Ok(format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(&payload),
            URL_SAFE_NO_PAD.encode(tag)
        ))
    }

    /// # Errors
    /// `InvalidCursor` when the cursor was altered, is bound to something else, or is
    /// not a cursor at all.
    pub fn open<T: DeserializeOwned>(
        &self,
        binding: &str,
        cursor: &str,
    ) -> Result<T, ServiceError> {
        if cursor.len() > MAX_CURSOR_BYTES {
            return Err(invalid());
        }
        let (payload, tag) = cursor.split_once('.').ok_or_else(invalid)?;
        let payload = URL_SAFE_NO_PAD.decode(payload).map_err(|_| invalid())?;
        let tag = URL_SAFE_NO_PAD.decode(tag).map_err(|_| invalid())?;
        self.mac(binding, &payload)
            .verify_slice(&tag)
            .map_err(|_| invalid())?;
        serde_json::from_slice(&payload).map_err(|_| invalid())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_opens_only_with_its_binding_and_unaltered() {
        let codec = CursorCodec::new([7; 32]);
        let c = codec.seal("tenant-a", &"conn_x").expect("sealed");
        assert_eq!(
            codec.open::<String>("tenant-a", &c).expect("opens"),
            "conn_x"
        );
        assert!(codec.open::<String>("tenant-b", &c).is_err());
        let mut altered = c.clone().into_bytes();
        altered[2] ^= 1;
        assert!(
            codec
                .open::<String>("tenant-a", &String::from_utf8_lossy(&altered))
                .is_err()
        );
        assert!(codec.open::<String>("tenant-a", "garbage").is_err());
        assert!(
            CursorCodec::new([8; 32])
                .open::<String>("tenant-a", &c)
                .is_err()
        );
    }

    proptest::proptest! {
        /// Whatever is sealed opens again, with the same binding only.
        #[test]
        fn a_sealed_value_opens_to_itself_with_its_binding_only(
            value in "\\PC{0,200}",
            binding in "\\PC{0,50}",
            key in proptest::array::uniform32(proptest::num::u8::ANY),
        ) {
            let codec = CursorCodec::new(key);
            let sealed = codec.seal(&binding, &value).expect("sealed");
            proptest::prop_assert_eq!(codec.open::<String>(&binding, &sealed).ok(), Some(value));
            let other = format!("{binding}x");
            proptest::prop_assert!(codec.open::<String>(&other, &sealed).is_err());
        }

        /// Arbitrary text is refused, never a panic.
        #[test]
        fn arbitrary_text_never_opens_or_panics(text in "\\PC{0,300}|[A-Za-z0-9_\\-]{0,80}\\.[A-Za-z0-9_\\-]{0,60}") {
            let codec = CursorCodec::new([3; 32]);
            proptest::prop_assert!(codec.open::<String>("b", &text).is_err());
        }
    }
}
