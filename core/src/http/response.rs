//! An HTTP answer and the bounded ways of reading its body.

use super::*;

/// An HTTP answer of any status. The body is read at most once, by one of the consuming methods.
pub struct Response {
    pub(super) status: u16,
    pub(super) headers: ureq::http::HeaderMap,
    pub(super) body: ureq::Body,
    pub(super) url: String,
}

impl std::fmt::Debug for Response {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Response({} from {})", self.status, self.url)
    }
}

impl Response {
    pub fn status(&self) -> u16 {
        self.status
    }
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
    /// The URL called, without its query.
    pub fn url(&self) -> &str {
        &self.url
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
    /// The media type without parameters, lower-cased.
    pub fn content_type(&self) -> Option<String> {
        self.header("content-type").map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
    }
    /// Seconds from a `Retry-After` header (delta-seconds or an HTTP date).
    pub fn retry_after(&self) -> Option<u64> {
        self.header("retry-after").and_then(parse_retry_after)
    }

    /// Read the whole body, refusing more than `limit` bytes.
    pub fn read_bytes(self, limit: u64) -> Result<Vec<u8>> {
        let shown = self.url.clone();
        let mut out = Vec::new();
        let mut reader = self.body.into_reader().take(limit + 1);
        reader
            .read_to_end(&mut out)
            .map_err(|e| body_error(e, &shown))?;
        if out.len() as u64 > limit {
            return Err(Error::new(
                ErrorKind::RemoteBadResponse,
                format!("the answer from {shown} is larger than the {limit} bytes allowed"),
            ));
        }
        Ok(out)
    }

    /// Read the whole body as UTF-8 text, refusing more than `limit` bytes.
    pub fn read_text(self, limit: u64) -> Result<String> {
        let shown = self.url.clone();
        let bytes = self.read_bytes(limit)?;
        String::from_utf8(bytes).map_err(|_| {
            Error::new(
                ErrorKind::RemoteBadResponse,
                format!("the answer from {shown} is not UTF-8 text"),
            )
        })
    }

    /// Stream the body into a writer; returns the number of bytes copied.
    pub fn copy_to(self, out: &mut dyn Write) -> Result<u64> {
        let shown = self.url.clone();
        let mut reader = self.body.into_reader();
        let mut buf = vec![0u8; 64 * 1024];
        let mut total = 0u64;
        loop {
            let n = match reader.read(&mut buf) {
                Ok(0) => return Ok(total),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(body_error(e, &shown)),
            };
            out.write_all(&buf[..n])
                .map_err(|e| Error::io("writing the downloaded body", e))?;
            total += n as u64;
        }
    }

    /// The body as a reader (errors come as `io::Error`; see [`map_body_error`]).
    pub fn into_reader(self) -> impl Read + Send + 'static {
        self.body.into_reader()
    }

    /// Turn a non-2xx answer into an error naming `service`, with the status, the remote error
    /// code and a short excerpt of the remote explanation. Text equal to any of `secrets` is
    /// blanked out of the excerpt, in case a service echoes what we sent.
    pub fn into_error(self, service: &str, secrets: &[&str]) -> Error {
        let status = self.status;
        let retry_after = self.retry_after();
        let url = self.url.clone();
        let body = self.read_bytes(MAX_ERROR_BODY).unwrap_or_default();
        let remote = RemoteErrorText::parse(&body);
        status_error(service, &url, status, retry_after, &remote, secrets)
    }
}
