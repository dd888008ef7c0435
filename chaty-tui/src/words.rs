//! Counts in English: "1 member", "2 members", "0 members"; and how long to
//! wait after a rate limit.

/// `singular` or its plural for `n` things: `"member"` gives "member" for 1
/// and "members" otherwise.
pub fn noun(n: u64, singular: &str) -> String {
    if n == 1 { singular.to_string() } else { format!("{singular}s") }
}

/// "1 member", "2 members".
pub fn count(n: u64, singular: &str) -> String {
    format!("{n} {}", noun(n, singular))
}

/// A refusal's text, with how long to wait when it is a rate limit that
/// says (`retryAfterMs`): the server's advice after its last `"; "` ("wait
/// before trying again", "slow down") gives way to "try again in N s", N
/// rounded up. Anything else is left as it is.
pub fn refusal(code: chaty_proto::ErrorCode, message: &str, retry_after_ms: Option<u64>) -> String {
    match retry_after_ms {
        Some(ms) if code == chaty_proto::ErrorCode::RateLimited => {
            let head = message.rsplit_once("; ").map_or(message, |(head, _)| head);
            format!("{head}; try again in {} s", ms.div_ceil(1000).max(1))
        }
        _ => message.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use chaty_proto::ErrorCode;

    use super::*;

    #[test]
    fn a_rate_limit_says_how_long_to_wait_rounded_up() {
        let logins = "too many failed logins; wait before trying again";
        assert_eq!(refusal(ErrorCode::RateLimited, logins, Some(29_001)), "too many failed logins; try again in 30 s");
        assert_eq!(refusal(ErrorCode::RateLimited, logins, Some(30_000)), "too many failed logins; try again in 30 s");
        assert_eq!(
            refusal(ErrorCode::RateLimited, "too many frames; slow down", Some(1)),
            "too many frames; try again in 1 s"
        );
        assert_eq!(refusal(ErrorCode::RateLimited, "slow down", Some(0)), "slow down; try again in 1 s");
        assert_eq!(refusal(ErrorCode::RateLimited, logins, None), logins, "no wait given: as it is");
        assert_eq!(refusal(ErrorCode::BadFrame, "a; b", Some(5000)), "a; b", "only rate limits");
    }

    #[test]
    fn one_is_singular_and_everything_else_plural() {
        assert_eq!(count(0, "member"), "0 members");
        assert_eq!(count(1, "member"), "1 member");
        assert_eq!(count(2, "member"), "2 members");
    }
}
