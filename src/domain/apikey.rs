//! API keys: the plaintext shown once, the hash that is stored, and what a key may do.

use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::ids::TenantId;
use super::timestamp::Timestamp;
use super::{Invalid, Parsed};

/// Every key starts with this.
pub const KEY_PREFIX: &str = "sk_live_";
const MIN_RANDOM_CHARS: usize = 32;
const MAX_KEY_LEN: usize = 256;

/// What a key is allowed to do. `Admin` includes `Write`, which includes `Read`; `Access`
/// (signed URLs and credentials for jobs) is included only in `Admin`, so a leaked read
/// or write key is never a download link; `Search` belongs to another API and grants
/// nothing here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyScope {
    Search,
    Read,
    Write,
    Admin,
    Access,
}

impl KeyScope {
    /// # Errors
    /// When the word is not a key scope.
    pub fn parse(s: &str) -> Parsed<Self> {
        match s {
            "read" => Ok(Self::Read),
            "write" => Ok(Self::Write),
            "admin" => Ok(Self::Admin),
            "search" => Ok(Self::Search),
            "access" => Ok(Self::Access),
            _ => Err(Invalid::new(
                "must be one of: read, write, admin, access, search",
            )),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::Write => "write",
            Self::Admin => "admin",
            Self::Search => "search",
            Self::Access => "access",
        }
    }
}

/// The SHA-256 of a presented key, hex-encoded: the only form in which keys are stored.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct KeyHash(String);

impl KeyHash {
    pub fn of(plaintext: &str) -> Self {
        Self(hex::encode(Sha256::digest(plaintext.as_bytes())))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Whether a presented credential is shaped like one of our keys (checked before hashing,
/// so garbage is refused cheaply and never looked up).
pub fn looks_like_key(s: &str) -> bool {
    s.len() <= MAX_KEY_LEN
        && s.strip_prefix(KEY_PREFIX).is_some_and(|rest| {
            rest.len() >= MIN_RANDOM_CHARS
                && rest
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

/// A newly minted key: the plaintext (to show once) and the record to store.
pub struct NewKey {
    pub plaintext: SecretString,
    pub record: ApiKeyRecord,
}

/// A stored API key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiKeyRecord {
    pub key_id: String,
    pub hash: KeyHash,
    pub tenant: TenantId,
    pub scopes: Vec<KeyScope>,
    pub created_at: Timestamp,
    pub expires_at: Option<Timestamp>,
    pub revoked_at: Option<Timestamp>,
}

impl ApiKeyRecord {
    /// Mints a key in the platform's canonical format: the prefix and 24 random bytes as
    /// 48 lowercase hex digits (the published MCP server accepts no other shape). Keys
    /// minted before in another shape (43 URL-safe characters) keep working.
    pub fn mint(tenant: TenantId, scopes: Vec<KeyScope>, expires_at: Option<Timestamp>) -> NewKey {
        let mut bytes = [0u8; 24];
        rand::rng().fill_bytes(&mut bytes);
        let plaintext = format!("{KEY_PREFIX}{}", hex::encode(bytes));
        let record = ApiKeyRecord {
            key_id: super::ids::fresh_ulid("key_"),
            hash: KeyHash::of(&plaintext),
            tenant,
            scopes,
            created_at: Timestamp::now(),
            expires_at,
            revoked_at: None,
        };
        NewKey {
            plaintext: SecretString::from(plaintext),
            record,
        }
    }

    /// Whether the key can be used at `now`.
    pub fn is_usable(&self, now: Timestamp) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|e| now < e)
    }

    /// Whether the key grants `needed`: admin ⊇ write ⊇ read, and admin ⊇ access.
    pub fn grants(&self, needed: KeyScope) -> bool {
        use KeyScope as K;
        self.scopes.iter().any(|&held| match (held, needed) {
            (K::Search, _) | (_, K::Search) => false,
            (K::Access | K::Admin, K::Access) => true,
            (K::Access, _) | (_, K::Access) => false,
            (held, needed) => held >= needed,
        })
    }
}

impl NewKey {
    pub fn reveal(&self) -> &str {
        self.plaintext.expose_secret()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tenant() -> TenantId {
        TenantId::parse("acme").expect("valid")
    }

    #[test]
    fn minted_keys_look_like_keys_and_hash_to_their_record() {
        let k = ApiKeyRecord::mint(tenant(), vec![KeyScope::Read], None);
        assert!(looks_like_key(k.reveal()));
        assert_eq!(KeyHash::of(k.reveal()), k.record.hash);
        assert!(!looks_like_key("sk_live_short"));
        assert!(!looks_like_key(
            "sk_test_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
        ));
    }

    #[test]
    fn minted_keys_are_sk_live_and_48_lowercase_hex_digits() {
        for _ in 0..100 {
            let k = ApiKeyRecord::mint(tenant(), vec![KeyScope::Read], None);
            let random = k.reveal().strip_prefix("sk_live_").expect("the prefix");
            assert_eq!(random.len(), 48, "{random}");
            assert!(
                random
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
                "{random}"
            );
        }
    }

    #[test]
    fn keys_minted_in_the_earlier_url_safe_shape_are_still_accepted() {
        assert!(looks_like_key(
            "sk_live_Q2h1bmsgb2YgcmFuZG9tIGJ5dGVzIGluIGJhc2U2NHVybA"
        ));
    }

    #[test]
    fn a_key_hashes_to_the_lowercase_hex_of_its_sha_256_as_stored_keys_do() {
        assert_eq!(
            KeyHash::of("abc").as_str(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn scopes_are_ordered_and_search_grants_nothing_here() {
        let admin = ApiKeyRecord::mint(tenant(), vec![KeyScope::Admin], None).record;
        assert!(admin.grants(KeyScope::Read) && admin.grants(KeyScope::Write));
        let read = ApiKeyRecord::mint(tenant(), vec![KeyScope::Read], None).record;
        assert!(read.grants(KeyScope::Read) && !read.grants(KeyScope::Write));
        let search = ApiKeyRecord::mint(tenant(), vec![KeyScope::Search], None).record;
        assert!(!search.grants(KeyScope::Read));
    }

    #[test]
    fn only_access_and_admin_keys_may_ask_for_access_and_access_alone_reads_nothing() {
        let key = |scopes| ApiKeyRecord::mint(tenant(), scopes, None).record;
        assert!(key(vec![KeyScope::Admin]).grants(KeyScope::Access));
        assert!(key(vec![KeyScope::Access]).grants(KeyScope::Access));
        assert!(!key(vec![KeyScope::Read]).grants(KeyScope::Access));
        assert!(!key(vec![KeyScope::Write]).grants(KeyScope::Access));
        assert!(!key(vec![KeyScope::Search]).grants(KeyScope::Access));
        let access = key(vec![KeyScope::Access]);
        assert!(!access.grants(KeyScope::Read) && !access.grants(KeyScope::Write));
        let worker = key(vec![KeyScope::Read, KeyScope::Access]);
        assert!(worker.grants(KeyScope::Read) && worker.grants(KeyScope::Access));
    }

    #[test]
    fn revoked_or_expired_keys_are_not_usable() {
        let now = Timestamp::now();
        let mut k =
            ApiKeyRecord::mint(tenant(), vec![KeyScope::Read], Some(now.plus_seconds(60))).record;
        assert!(k.is_usable(now));
        assert!(!k.is_usable(now.plus_seconds(61)));
        k.revoked_at = Some(now);
        assert!(!k.is_usable(now));
    }
}
