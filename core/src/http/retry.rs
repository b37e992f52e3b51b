//! `Retry-After` parsing and the retry helper for calls that can safely be repeated.

use super::*;

/// Parse a `Retry-After` value: delta-seconds or an IMF-fixdate (RFC 9110 §10.2.3).
pub fn parse_retry_after(value: &str) -> Option<u64> {
    let v = value.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(secs);
    }
    let at = parse_http_date(v)?;
    let now = SystemTime::now().duration_since(UNIX_EPOCH).ok()?.as_secs();
    Some(at.saturating_sub(now))
}

/// `Sun, 06 Nov 1994 08:49:37 GMT` to seconds since the epoch (the weekday is not checked).
pub(super) fn parse_http_date(v: &str) -> Option<u64> {
    let format = time::macros::format_description!(
        "[day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    let rest = v.split_once(", ")?.1;
    let at = time::PrimitiveDateTime::parse(rest, &format).ok()?;
    u64::try_from(at.assume_utc().unix_timestamp()).ok()
}

/// How often and how patiently to repeat a call that failed in a retryable way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Total attempts, the first included (1 = no retry).
    pub attempts: u32,
    pub first_delay: Duration,
    pub max_delay: Duration,
}

impl RetryPolicy {
    pub const NONE: RetryPolicy = RetryPolicy {
        attempts: 1,
        first_delay: Duration::ZERO,
        max_delay: Duration::ZERO,
    };
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 3,
            first_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(10),
        }
    }
}

/// Run `op` until it succeeds, fails in a way that is not retryable, or the attempts are used up.
/// A `Retry-After` longer than the policy's `max_delay` ends the retries (the caller can schedule
/// a later attempt); a shorter one is honoured.
pub fn with_retries<T>(policy: &RetryPolicy, mut op: impl FnMut(u32) -> Result<T>) -> Result<T> {
    let mut delay = policy.first_delay;
    let mut attempt = 1;
    loop {
        match op(attempt) {
            Ok(v) => return Ok(v),
            Err(e) if e.retryable() && attempt < policy.attempts => {
                let wait = match e.detail().retry_after_secs {
                    Some(s) if Duration::from_secs(s) > policy.max_delay => return Err(e),
                    Some(s) => Duration::from_secs(s),
                    None => delay,
                };
                log::info!(
                    "attempt {attempt} failed ({}); retrying in {} ms",
                    e.message(),
                    wait.as_millis()
                );
                std::thread::sleep(wait);
                delay = (delay * 2).min(policy.max_delay);
                attempt += 1;
            }
            Err(e) => return Err(e),
        }
    }
}
