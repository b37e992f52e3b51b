//! SOAP 1.1 envelopes for the Altinn 2 broker: parsing with roxmltree (which refuses DTDs, so no
//! entity tricks), checking element content against the WSDL's sequences (namespaces, order,
//! cardinality, simple types), and writing answers and AltinnFault faults.

use roxmltree::{Document, Node, ParsingOptions};

pub const SOAP_ENV: &str = "http://schemas.xmlsoap.org/soap/envelope/";
pub const SOAP12_ENV: &str = "http://www.w3.org/2003/05/soap-envelope";
pub const BS: &str = "http://www.altinn.no/services/ServiceEngine/Broker/2015/06";
pub const BSE: &str = "http://schemas.altinn.no/services/ServiceEngine/Broker/2015/06";
pub const BP: &str = "http://schemas.altinn.no/services/ServiceEngine/Broker/2020/01";
pub const ARR: &str = "http://schemas.microsoft.com/2003/10/Serialization/Arrays";
pub const FAULT_NS: &str = "http://www.altinn.no/services/common/fault/2009/10";
pub const CONTRACT_BASE: &str = "http://www.altinn.no/services/2009/10";
pub const XOP: &str = "http://www.w3.org/2004/08/xop/include";
const XSI: &str = "http://www.w3.org/2001/XMLSchema-instance";

/// A simple or complex schema type.
#[derive(Clone, Copy)]
pub enum Ty {
    Str,
    Int,
    DateTime,
    Enum(&'static [&'static str]),
    Seq(&'static [El]),
    /// An xop:Include or inline base64 (StreamBody).
    Stream,
    /// Content not checked (a tolerated element).
    Skip,
}

/// One `xs:element` of a sequence.
#[derive(Clone, Copy)]
pub struct El {
    pub ns: &'static str,
    pub name: &'static str,
    pub min: u32,
    pub max: u32,
    pub nillable: bool,
    pub ty: Ty,
}

pub const fn el(ns: &'static str, name: &'static str, min: u32, ty: Ty) -> El {
    El {
        ns,
        name,
        min,
        max: 1,
        nillable: false,
        ty,
    }
}
pub const fn nel(ns: &'static str, name: &'static str, min: u32, ty: Ty) -> El {
    El {
        ns,
        name,
        min,
        max: 1,
        nillable: true,
        ty,
    }
}
pub const fn many(ns: &'static str, name: &'static str, ty: Ty) -> El {
    El {
        ns,
        name,
        min: 0,
        max: u32::MAX,
        nillable: true,
        ty,
    }
}

pub fn parse(text: &str) -> Result<Document<'_>, String> {
    let opts = ParsingOptions {
        allow_dtd: false,
        ..ParsingOptions::default()
    };
    Document::parse_with_options(text, opts)
        .map_err(|e| format!("the request is not well-formed XML: {e}"))
}

fn qname(n: Node<'_, '_>) -> String {
    format!(
        "{{{}}}{}",
        n.tag_name().namespace().unwrap_or(""),
        n.tag_name().name()
    )
}

fn is_nil(n: Node<'_, '_>) -> bool {
    matches!(n.attribute((XSI, "nil")), Some("true") | Some("1"))
}

fn elements<'a, 'i>(n: Node<'a, 'i>) -> Result<Vec<Node<'a, 'i>>, String> {
    let mut out = Vec::new();
    for c in n.children() {
        if c.is_element() {
            out.push(c);
        } else if c.is_text() && !c.text().unwrap_or("").trim().is_empty() {
            return Err(format!("element {} must not contain text", qname(n)));
        }
    }
    Ok(out)
}

/// Check that `node`'s children follow `seq` exactly.
pub fn check_seq(node: Node<'_, '_>, seq: &[El]) -> Result<(), String> {
    let kids = elements(node)?;
    let mut i = 0;
    for e in seq {
        let mut count = 0;
        while i < kids.len()
            && kids[i].tag_name().name() == e.name
            && kids[i].tag_name().namespace().unwrap_or("") == e.ns
            && count < e.max
        {
            check_el(kids[i], e)?;
            count += 1;
            i += 1;
        }
        if count < e.min {
            let found = kids
                .get(i)
                .map(|k| format!("found {}", qname(*k)))
                .unwrap_or_else(|| "found nothing".into());
            return Err(format!(
                "{} is missing required element {{{}}}{} ({found}); elements must come in the WSDL's order",
                qname(node),
                e.ns,
                e.name
            ));
        }
    }
    if let Some(extra) = kids.get(i) {
        let expected: Vec<String> = seq
            .iter()
            .map(|e| format!("{{{}}}{}", e.ns, e.name))
            .collect();
        return Err(format!(
            "unexpected element {} in {}: the WSDL allows, in this order, {}",
            qname(*extra),
            qname(node),
            expected.join(", ")
        ));
    }
    Ok(())
}

fn check_el(n: Node<'_, '_>, e: &El) -> Result<(), String> {
    if is_nil(n) {
        return if e.nillable {
            Ok(())
        } else {
            Err(format!("{} must not be nil", qname(n)))
        };
    }
    let text = || -> Result<String, String> {
        if n.children().any(|c| c.is_element()) {
            return Err(format!("{} must hold text, not elements", qname(n)));
        }
        Ok(n.text().unwrap_or("").to_string())
    };
    match e.ty {
        Ty::Str => text().map(|_| ()),
        Ty::Int => text()?
            .trim()
            .parse::<i32>()
            .map(|_| ())
            .map_err(|_| format!("{} must be an xs:int", qname(n))),
        Ty::DateTime => parse_datetime(text()?.trim())
            .map(|_| ())
            .ok_or_else(|| format!("{} must be an xs:dateTime", qname(n))),
        Ty::Enum(values) => {
            let t = text()?;
            if values.contains(&t.trim()) {
                Ok(())
            } else {
                Err(format!("{} must be one of {}", qname(n), values.join(", ")))
            }
        }
        Ty::Seq(seq) => check_seq(n, seq),
        Ty::Stream | Ty::Skip => Ok(()),
    }
}

/// xs:dateTime with or without an offset (no offset = UTC).
pub fn parse_datetime(s: &str) -> Option<time::OffsetDateTime> {
    use time::format_description::well_known::Rfc3339;
    if let Ok(t) = time::OffsetDateTime::parse(s, &Rfc3339) {
        return Some(t);
    }
    time::OffsetDateTime::parse(&format!("{s}Z"), &Rfc3339).ok()
}

/// Text of the first child element with this name.
pub fn child<'a, 'i>(n: Node<'a, 'i>, ns: &str, name: &str) -> Option<Node<'a, 'i>> {
    n.children().find(|c| {
        c.is_element()
            && c.tag_name().name() == name
            && c.tag_name().namespace().unwrap_or("") == ns
    })
}

pub fn child_text(n: Node<'_, '_>, ns: &str, name: &str) -> Option<String> {
    child(n, ns, name)
        .filter(|c| !is_nil(*c))
        .map(|c| c.text().unwrap_or("").trim().to_string())
}

/// The Envelope's Header and single Body child.
pub struct Envelope<'a, 'i> {
    pub header: Option<Node<'a, 'i>>,
    pub body_element: Node<'a, 'i>,
}

pub fn envelope<'a, 'i>(doc: &'a Document<'i>) -> Result<Envelope<'a, 'i>, Fault> {
    let root = doc.root_element();
    if root.tag_name().name() == "Envelope" && root.tag_name().namespace() == Some(SOAP12_ENV) {
        return Err(Fault::version_mismatch());
    }
    if root.tag_name().name() != "Envelope" || root.tag_name().namespace() != Some(SOAP_ENV) {
        return Err(Fault::client(format!(
            "the root element must be {{{SOAP_ENV}}}Envelope (SOAP 1.1), found {}",
            qname(root)
        )));
    }
    let kids = elements(root).map_err(Fault::client)?;
    let (header, body) = match kids.as_slice() {
        [b] if b.tag_name().name() == "Body" && b.tag_name().namespace() == Some(SOAP_ENV) => {
            (None, *b)
        }
        [h, b]
            if h.tag_name().name() == "Header"
                && h.tag_name().namespace() == Some(SOAP_ENV)
                && b.tag_name().name() == "Body"
                && b.tag_name().namespace() == Some(SOAP_ENV) =>
        {
            (Some(*h), *b)
        }
        _ => {
            return Err(Fault::client(
                "the Envelope must hold an optional soap:Header and then one soap:Body",
            ))
        }
    };
    let body_kids = elements(body).map_err(Fault::client)?;
    match body_kids.as_slice() {
        [one] => Ok(Envelope {
            header,
            body_element: *one,
        }),
        _ => Err(Fault::client("the soap:Body must hold exactly one element")),
    }
}

pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

/// A SOAP fault with an AltinnFault detail.
#[derive(Debug, Clone)]
pub struct Fault {
    pub code: &'static str,
    pub error_id: i32,
    pub message: String,
}

/// ErrorID Altinn uses for wrong system credentials.
pub const ERR_CREDENTIALS: i32 = 989;
/// Sandbox choices (Altinn's own numbers for these cases are not documented).
pub const ERR_INVALID_REQUEST: i32 = 0;
pub const ERR_NOT_AUTHORISED: i32 = 30010;
pub const ERR_NOT_FOUND: i32 = 30009;
pub const ERR_STATE: i32 = 30011;

impl Fault {
    pub fn client(message: impl Into<String>) -> Fault {
        Fault {
            code: "s:Client",
            error_id: ERR_INVALID_REQUEST,
            message: message.into(),
        }
    }
    pub fn version_mismatch() -> Fault {
        Fault {
            code: "s:VersionMismatch",
            error_id: ERR_INVALID_REQUEST,
            message: "SOAP 1.2 is not supported here: use SOAP 1.1 (http://schemas.xmlsoap.org/soap/envelope/)".into(),
        }
    }
    pub fn altinn(error_id: i32, message: impl Into<String>) -> Fault {
        Fault {
            code: "s:Client",
            error_id,
            message: message.into(),
        }
    }
    pub fn server(message: impl Into<String>) -> Fault {
        Fault {
            code: "s:Server",
            error_id: 0,
            message: message.into(),
        }
    }
    pub fn to_xml(&self) -> String {
        let m = escape(&self.message);
        format!(
            r#"<s:Envelope xmlns:s="{SOAP_ENV}"><s:Body><s:Fault><faultcode>{code}</faultcode><faultstring xml:lang="en-US">{m}</faultstring><detail><AltinnFault xmlns="{FAULT_NS}" xmlns:i="{XSI}"><AltinnErrorMessage>{m}</AltinnErrorMessage><AltinnExtendedErrorMessage>No information available</AltinnExtendedErrorMessage><AltinnLocalizedErrorMessage>{m}</AltinnLocalizedErrorMessage><ErrorGuid>{guid}</ErrorGuid><ErrorID>{id}</ErrorID><UserGuid>-no value-</UserGuid><UserId>0</UserId></AltinnFault></detail></s:Fault></s:Body></s:Envelope>"#,
            code = self.code,
            guid = uuid::Uuid::new_v4(),
            id = self.error_id,
        )
    }
}

pub fn response_envelope(inner: &str) -> String {
    format!(r#"<s:Envelope xmlns:s="{SOAP_ENV}"><s:Body>{inner}</s:Body></s:Envelope>"#)
}
