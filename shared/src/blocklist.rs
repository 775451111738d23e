//! Password screening at registration: the most common passwords and context words.

include!(concat!(env!("OUT_DIR"), "/common_passwords.rs"));

/// How many passwords the compiled list holds (the list's entries that the length rule does not
/// already refuse).
pub fn len() -> usize {
    COMMON_PASSWORD_ENDS.len()
}

/// The `i`th entry of the sorted list.
fn entry(i: usize) -> &'static str {
    let start = match i {
        0 => 0,
        _ => COMMON_PASSWORD_ENDS[i - 1] as usize,
    };
    COMMON_PASSWORDS
        .get(start..COMMON_PASSWORD_ENDS[i] as usize)
        .unwrap_or_default()
}

/// True when `password`, lower-cased, is on the common-password list: a binary search of the
/// sorted list (14 comparisons for its 11,000 entries).
pub fn is_common(password: &str) -> bool {
    let lower = password.to_lowercase();
    let (mut low, mut high) = (0, len());
    while low < high {
        let mid = low + (high - low) / 2;
        match entry(mid).cmp(lower.as_str()) {
            std::cmp::Ordering::Less => low = mid + 1,
            std::cmp::Ordering::Greater => high = mid,
            std::cmp::Ordering::Equal => return true,
        }
    }
    false
}

/// Why `password` is refused, if it is: too common, or built on the username or the service
/// name (compared case-insensitively).
pub fn screen(password: &str, username: &str, service_name: &str) -> Option<&'static str> {
    if is_common(password) {
        return Some("is too common: choose a password that is not on lists of leaked passwords");
    }
    let lower = password.to_lowercase();
    if !username.is_empty() && lower.contains(&username.to_lowercase()) {
        return Some("must not contain the username");
    }
    if !service_name.is_empty() && lower.contains(&service_name.to_lowercase()) {
        return Some("must not contain the name of this service");
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::config::PasswordPolicy;
    use crate::validation::{Credentials, Purpose};

    #[test]
    fn every_listed_password_is_refused_at_registration() {
        // All 30,000, the 10,000 most common first: by the list or, if shorter than the
        // smallest allowed minimum, by length.
        let text = include_str!("../data/common-passwords.txt");
        assert_eq!(text.lines().count(), 30_000);
        let policy = PasswordPolicy::default();
        assert_eq!(
            policy.min_chars, 8,
            "the build script's cut-off matches the policy floor"
        );
        for (rank, password) in text.lines().enumerate() {
            let body = serde_json::json!({"username": "someone", "password": password});
            let refused =
                Credentials::parse(body.as_object().unwrap(), Purpose::Register(&policy)).is_err();
            assert!(refused, "#{rank} {password:?} was accepted");
        }
        assert!(len() > 11_000, "the compiled list holds the long entries");
        assert!(
            (1..len()).all(|i| entry(i - 1) < entry(i)),
            "the compiled list is sorted, as the search needs"
        );
    }

    #[test]
    fn common_passwords_are_refused_in_any_case() {
        for p in [
            "password",
            "PassWord",
            "12345678",
            "qwertyuiop",
            "iloveyou",
            "baseball",
        ] {
            assert!(screen(p, "someone", "auth-api").is_some(), "{p}");
        }
    }

    #[test]
    fn context_words_are_refused() {
        assert_eq!(
            screen("Alice-2026-secret", "alice", "auth-api"),
            Some("must not contain the username")
        );
        assert_eq!(
            screen("my auth-api login", "bob", "auth-api"),
            Some("must not contain the name of this service")
        );
    }

    #[test]
    fn uncommon_passwords_pass() {
        assert_eq!(
            screen("correct horse battery staple", "alice", "auth-api"),
            None
        );
    }
}
