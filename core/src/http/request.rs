//! Building and sending a request, with bodies streamed from the caller.

use super::*;

/// A request being built. Nothing is sent until one of the `call`/`send_*` methods.
pub struct Request<'h> {
    pub(super) http: &'h Http,
    pub(super) method: Method,
    pub(super) url: String,
    pub(super) headers: Vec<(String, String)>,
    pub(super) total_timeout: Option<Duration>,
}

impl<'h> Request<'h> {
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    /// `Authorization: Bearer <token>`. The token is never logged.
    pub fn bearer(self, token: &str) -> Self {
        self.header("Authorization", &format!("Bearer {token}"))
    }

    /// A limit on the whole exchange (connect, send, receive head and body), on top of the idle
    /// limits from the configuration. For small calls that must not hang.
    pub fn total_timeout(mut self, limit: Duration) -> Self {
        self.total_timeout = Some(limit);
        self
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// Send without a body.
    pub fn call(self) -> Result<Response> {
        self.run(ureq::SendBody::none(), None)
    }

    pub fn send_bytes(self, body: &[u8]) -> Result<Response> {
        let len = body.len() as u64;
        let mut reader = body;
        self.run(ureq::SendBody::from_reader(&mut reader), Some(len))
    }

    pub fn send_json(self, value: &serde_json::Value) -> Result<Response> {
        let body = serde_json::to_vec(value)
            .map_err(|e| Error::new(ErrorKind::Internal, format!("serialising JSON: {e}")))?;
        self.header("Content-Type", "application/json")
            .send_bytes(&body)
    }

    /// An `application/x-www-form-urlencoded` body.
    pub fn send_form(self, fields: &[(&str, &str)]) -> Result<Response> {
        let body = form_urlencode(fields);
        self.header("Content-Type", "application/x-www-form-urlencoded")
            .send_bytes(body.as_bytes())
    }

    /// Stream the body from a reader. With a known length it is sent with `Content-Length`,
    /// otherwise chunked.
    /// A failure of `body` itself is reported as such (`Io`), not as a network error.
    pub fn send_reader(self, body: &mut dyn Read, length: Option<u64>) -> Result<Response> {
        let mut tracked = TrackedReader {
            inner: body,
            failure: None,
        };
        let result = self.run(ureq::SendBody::from_reader(&mut tracked), length);
        match (result, tracked.failure) {
            (Err(_), Some(why)) => Err(Error::new(
                ErrorKind::Io,
                format!("reading the body to send failed: {why}"),
            )),
            (result, _) => result,
        }
    }

    fn run(self, body: ureq::SendBody<'_>, length: Option<u64>) -> Result<Response> {
        check_url(&self.url)?;
        let shown = url_for_message(&self.url).to_string();
        let mut builder = ureq::http::Request::builder()
            .method(self.method.as_str())
            .uri(&self.url);
        for (name, value) in &self.headers {
            builder = builder.header(name.as_str(), value.as_str());
        }
        if let Some(len) = length {
            builder = builder.header("Content-Length", len.to_string());
        }
        let request = builder.body(body).map_err(|e| {
            Error::new(
                ErrorKind::InvalidArgument,
                format!("cannot build a request to {shown}: {e}"),
            )
        })?;
        let system_proxy = self
            .http
            .system_proxy
            .map(|lookup| proxy::system_proxy_for(lookup, &self.url));
        let request = if self.total_timeout.is_some() || system_proxy.is_some() {
            let mut config = self.http.agent.configure_request(request);
            if let Some(t) = self.total_timeout {
                config = config.timeout_per_call(Some(t));
            }
            if let Some(p) = system_proxy {
                config = config.proxy(p);
            }
            config.build()
        } else {
            request
        };
        log::debug!("{} {shown}", self.method.as_str());
        let response = self
            .http
            .agent
            .run(request)
            .map_err(|e| transport_error(&e, &shown))?;
        let (parts, body) = response.into_parts();
        log::debug!("{} {shown} -> {}", self.method.as_str(), parts.status);
        Ok(Response {
            status: parts.status.as_u16(),
            headers: parts.headers,
            body,
            url: shown,
        })
    }
}

/// Remembers whether the caller's body reader failed, to tell that apart from the network.
struct TrackedReader<'a> {
    inner: &'a mut dyn Read,
    failure: Option<String>,
}

impl Read for TrackedReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(buf).inspect_err(|e| {
            if e.kind() != io::ErrorKind::Interrupted {
                self.failure = Some(e.to_string());
            }
        })
    }
}
