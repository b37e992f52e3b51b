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

/// `Sun, 06 Nov 1994 08:49:37 GMT` to seconds since the epoch.
pub(super) fn parse_http_date(v: &str) -> Option<u64> {
    let rest = v.split_once(", ")?.1;
    let mut parts = rest.split(' ');
    let day: u64 = parts.next()?.parse().ok()?;
    let month = match parts.next()? {
        "Jan" => 1,
        "Feb" => 2,
        "Mar" => 3,
        "Apr" => 4,
        "May" => 5,
        "Jun" => 6,
        "Jul" => 7,
        "Aug" => 8,
        "Sep" => 9,
        "Oct" => 10,
        "Nov" => 11,
        "Dec" => 12,
        _ => return None,
    };
    let year: i64 = parts.next()?.parse().ok()?;
    let mut hms = parts.next()?.split(':');
    let h: u64 = hms.next()?.parse().ok()?;
    let m: u64 = hms.next()?.parse().ok()?;
    let s: u64 = hms.next()?.parse().ok()?;
    if parts.next()? != "GMT" || !(1..=31).contains(&day) || h > 23 || m > 59 || s > 60 {
        return None;
    }
    // Days from the civil date (Howard Hinnant's algorithm).
    let (y, mo) = if month <= 2 {
        (year - 1, month + 9)
    } else {
        (year, month - 3)
    };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * mo + 2) / 5 + day as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146097 + doe - 719468;
    if days < 0 {
        return None;
    }
    Some(days as u64 * 86400 + h * 3600 + m * 60 + s)
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
