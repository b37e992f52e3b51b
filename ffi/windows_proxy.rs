//! Windows' proxy settings for `"proxy": "system"` (efm-core cannot ask: it forbids unsafe code).
//!
//! Used when the configuration says `system` (the default outside the sandbox) and neither
//! `HTTPS_PROXY` nor `ALL_PROXY` is set. The order is that of .NET's default proxy on Windows, so
//! efm goes where the archive system's own HTTP calls go:
//! 1. the current user's Internet Options: "Automatically detect settings" (WPAD) and "Use
//!    automatic configuration script" (a PAC URL), both evaluated by WinHTTP; if that yields
//!    nothing, the manual proxy with its bypass list;
//! 2. the machine's WinHTTP proxy (`netsh winhttp set proxy`), which is what a Windows service
//!    running as LocalSystem normally has.
//!
//! Answers are kept per scheme and host for five minutes: WPAD discovery can take seconds, and a
//! changed setting is still picked up by a long-running service.

/// Give efm-core the lookup (once per process; the boundary calls this first).
#[cfg(windows)]
pub(crate) fn install() {
    efm_core::http::system_proxy::install_system_proxy_lookup(lookup::proxy_for_url);
}

#[cfg(not(windows))]
pub(crate) fn install() {}

#[cfg(windows)]
mod lookup {
    use efm_core::http::system_proxy::{proxy_from_pac_answer, proxy_from_windows_lists};
    use std::collections::HashMap;
    use std::sync::Mutex;
    use std::time::{Duration, Instant};
    use windows_sys::Win32::Foundation::{GetLastError, GlobalFree};
    use windows_sys::Win32::Networking::WinHttp::{
        WinHttpCloseHandle, WinHttpGetDefaultProxyConfiguration,
        WinHttpGetIEProxyConfigForCurrentUser, WinHttpGetProxyForUrl, WinHttpOpen,
        WINHTTP_ACCESS_TYPE_NAMED_PROXY, WINHTTP_ACCESS_TYPE_NO_PROXY,
        WINHTTP_AUTOPROXY_AUTO_DETECT, WINHTTP_AUTOPROXY_CONFIG_URL, WINHTTP_AUTOPROXY_OPTIONS,
        WINHTTP_AUTO_DETECT_TYPE_DHCP, WINHTTP_AUTO_DETECT_TYPE_DNS_A,
        WINHTTP_CURRENT_USER_IE_PROXY_CONFIG, WINHTTP_PROXY_INFO,
    };

    const KEEP: Duration = Duration::from_secs(300);
    /// Per `scheme://host[:port]`: when it was resolved, and the proxy (`None`: direct).
    type Answers = HashMap<String, (Instant, Option<String>)>;
    static ANSWERS: Mutex<Option<Answers>> = Mutex::new(None);

    pub(super) fn proxy_for_url(url: &str) -> Option<String> {
        // scheme://host[:port], the part of the URL the settings can depend on in practice.
        let origin: String = match url.split_once("://") {
            Some((scheme, rest)) => {
                format!(
                    "{scheme}://{}",
                    rest.split(['/', '?', '#']).next().unwrap_or("")
                )
            }
            None => url.to_string(),
        };
        let answers = || ANSWERS.lock().unwrap_or_else(|p| p.into_inner());
        let kept = answers()
            .as_ref()
            .and_then(|a| a.get(&origin))
            .filter(|(at, _)| at.elapsed() < KEEP)
            .map(|(_, answer)| answer.clone());
        if let Some(answer) = kept {
            return answer;
        }
        // Resolved without the lock held: WPAD may take seconds, other hosts need not wait.
        let answer = resolve(url);
        match &answer {
            Some(p) => log::info!("Windows proxy settings: {origin} through {p}"),
            None => log::info!("Windows proxy settings: {origin} directly"),
        }
        answers()
            .get_or_insert_with(HashMap::new)
            .insert(origin, (Instant::now(), answer.clone()));
        answer
    }

    fn resolve(url: &str) -> Option<String> {
        if let Some(user) = internet_options() {
            if user.auto_detect || !user.pac_url.is_empty() {
                match auto_proxy(url, &user) {
                    Ok(answer) => return answer,
                    Err(why) => log::debug!("proxy auto-configuration gave nothing ({why})"),
                }
            }
            if !user.proxy.is_empty() {
                return proxy_from_windows_lists(url, &user.proxy, &user.bypass);
            }
        }
        let (list, bypass) = winhttp_default()?;
        proxy_from_windows_lists(url, &list, &bypass)
    }

    /// The current user's Internet Options (Wine and Windows keep them in the registry under
    /// Internet Settings\Connections).
    struct InternetOptions {
        auto_detect: bool,
        pac_url: String,
        proxy: String,
        bypass: String,
    }

    fn internet_options() -> Option<InternetOptions> {
        let mut cfg = WINHTTP_CURRENT_USER_IE_PROXY_CONFIG::default();
        // SAFETY: `cfg` is a valid, writable structure of the type the function fills.
        if unsafe { WinHttpGetIEProxyConfigForCurrentUser(&mut cfg) } == 0 {
            return None;
        }
        // SAFETY: on success the three strings are NULL or GlobalAlloc'ed, NUL-terminated UTF-16
        // that the caller owns; each is taken exactly once.
        let (pac_url, proxy, bypass) = unsafe {
            (
                take(cfg.lpszAutoConfigUrl),
                take(cfg.lpszProxy),
                take(cfg.lpszProxyBypass),
            )
        };
        Some(InternetOptions {
            auto_detect: cfg.fAutoDetect != 0,
            pac_url,
            proxy,
            bypass,
        })
    }

    /// WPAD and the PAC script, evaluated by WinHTTP for this URL: `Ok(None)` means DIRECT.
    fn auto_proxy(url: &str, user: &InternetOptions) -> Result<Option<String>, String> {
        let wide_url = wide(url);
        let wide_pac = wide(&user.pac_url);
        let mut options = WINHTTP_AUTOPROXY_OPTIONS::default();
        if user.auto_detect {
            options.dwFlags |= WINHTTP_AUTOPROXY_AUTO_DETECT;
            options.dwAutoDetectFlags =
                WINHTTP_AUTO_DETECT_TYPE_DHCP | WINHTTP_AUTO_DETECT_TYPE_DNS_A;
        }
        if !user.pac_url.is_empty() {
            options.dwFlags |= WINHTTP_AUTOPROXY_CONFIG_URL;
            options.lpszAutoConfigUrl = wide_pac.as_ptr();
        }
        let agent = wide("efm");
        // SAFETY: `agent` is a NUL-terminated UTF-16 string alive for the call; NULL proxy and
        // bypass pointers are allowed with WINHTTP_ACCESS_TYPE_NO_PROXY.
        let session = unsafe {
            WinHttpOpen(
                agent.as_ptr(),
                WINHTTP_ACCESS_TYPE_NO_PROXY,
                std::ptr::null(),
                std::ptr::null(),
                0,
            )
        };
        if session.is_null() {
            // SAFETY: no preconditions.
            return Err(format!("WinHttpOpen failed, error {}", unsafe {
                GetLastError()
            }));
        }
        let mut info = WINHTTP_PROXY_INFO::default();
        // SAFETY: `session` is an open session handle; the URL, the options (and the PAC URL they
        // point to) live until the call returns; `info` is writable.
        let ok =
            unsafe { WinHttpGetProxyForUrl(session, wide_url.as_ptr(), &mut options, &mut info) };
        // SAFETY: no preconditions.
        let error = unsafe { GetLastError() };
        // SAFETY: `session` is open and closed once.
        unsafe { WinHttpCloseHandle(session) };
        if ok == 0 {
            return Err(format!("WinHttpGetProxyForUrl failed, error {error}"));
        }
        // SAFETY: on success the strings are NULL or GlobalAlloc'ed and ours, taken once each.
        let (list, _bypass) = unsafe { (take(info.lpszProxy), take(info.lpszProxyBypass)) };
        Ok(if info.dwAccessType == WINHTTP_ACCESS_TYPE_NAMED_PROXY {
            proxy_from_pac_answer(url, &list)
        } else {
            None
        })
    }

    /// The machine's WinHTTP proxy and bypass list (`netsh winhttp show proxy`), if one is named.
    fn winhttp_default() -> Option<(String, String)> {
        let mut info = WINHTTP_PROXY_INFO::default();
        // SAFETY: `info` is a valid, writable structure of the type the function fills.
        if unsafe { WinHttpGetDefaultProxyConfiguration(&mut info) } == 0 {
            return None;
        }
        // SAFETY: as in `auto_proxy`.
        let (list, bypass) = unsafe { (take(info.lpszProxy), take(info.lpszProxyBypass)) };
        (info.dwAccessType == WINHTTP_ACCESS_TYPE_NAMED_PROXY && !list.is_empty())
            .then_some((list, bypass))
    }

    fn wide(s: &str) -> Vec<u16> {
        s.encode_utf16().chain(std::iter::once(0)).collect()
    }

    /// Copy and free a string WinHTTP allocated for us.
    ///
    /// # Safety
    /// `p` is NULL or a NUL-terminated UTF-16 string from GlobalAlloc that nobody else frees.
    unsafe fn take(p: *mut u16) -> String {
        if p.is_null() {
            return String::new();
        }
        let mut n = 0;
        // SAFETY: the string is NUL-terminated, so every index up to the NUL is in bounds.
        while unsafe { *p.add(n) } != 0 {
            n += 1;
        }
        // SAFETY: `n` UTF-16 units from `p` were just read.
        let s = String::from_utf16_lossy(unsafe { std::slice::from_raw_parts(p, n) });
        // SAFETY: GlobalAlloc'ed and ours (the contract); not used after this.
        unsafe { GlobalFree(p.cast()) };
        s
    }
}
