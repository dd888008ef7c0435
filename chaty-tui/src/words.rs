//! Counts in English: "1 member", "2 members", "0 members".

/// `singular` or its plural for `n` things: `"member"` gives "member" for 1
/// and "members" otherwise.
pub fn noun(n: u64, singular: &str) -> String {
    if n == 1 { singular.to_string() } else { format!("{singular}s") }
}

/// "1 member", "2 members".
pub fn count(n: u64, singular: &str) -> String {
    format!("{n} {}", noun(n, singular))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_is_singular_and_everything_else_plural() {
        assert_eq!(count(0, "member"), "0 members");
        assert_eq!(count(1, "member"), "1 member");
        assert_eq!(count(2, "member"), "2 members");
    }
}
