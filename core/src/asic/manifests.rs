//! The three XML files of a DPO ASiC-E (IP `ManifestFactory`; efm-asic `CadesAsicManifest`,
//! `OasisManifest`), formatted as the IP writes them, and a parser for `META-INF/ASiCManifest.xml`
//! on the receiving side.
//!
//! The parser uses quick-xml, which never resolves DTDs or external entities; a DOCTYPE is refused
//! outright.

use crate::error::{Error, ErrorKind, Result};
use quick_xml::events::Event;

pub const ASIC_NS: &str = "http://uri.etsi.org/02918/v1.2.1#";
pub const DSIG_NS: &str = "http://www.w3.org/2000/09/xmldsig#";
pub const SHA256_URI: &str = "http://www.w3.org/2001/04/xmlenc#sha256";
pub const OASIS_NS: &str = "urn:oasis:names:tc:opendocument:xmlns:manifest:1.0";
pub const SIGNATURE_MIME: &str = "application/x-pkcs7-signature";

/// Escape text for element content and attribute values (`&<>"'`).
pub fn xml_escape(s: &str) -> String {
    quick_xml::escape::escape(s).into_owned()
}

/// One file in the manifests: its path in the zip, MIME type and SHA-256.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataObject {
    pub uri: String,
    pub mime: String,
    pub sha256: [u8; 32],
}

/// The eFormidling `manifest.xml` (no namespace, 3-space indentation; IP `ManifestFactory`, as
/// the IP's `nextmove_send_dpo.feature` expects it).
pub fn eformidling_manifest(
    receiver: &str,
    sender: &str,
    hoveddokument: Option<(&str, &str)>,
) -> String {
    let mut s = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<manifest>\n");
    s.push_str(&format!(
        "   <mottaker>\n      <organisasjon authority=\"iso6523-actorid-upis\">{}</organisasjon>\n   </mottaker>\n",
        xml_escape(receiver)
    ));
    s.push_str(&format!(
        "   <avsender>\n      <organisasjon authority=\"iso6523-actorid-upis\">{}</organisasjon>\n   </avsender>\n",
        xml_escape(sender)
    ));
    if let Some((href, mime)) = hoveddokument {
        s.push_str(&format!(
            "   <hoveddokument href=\"{}\" mime=\"{}\">\n      <tittel lang=\"no\">Hoveddokument</tittel>\n   </hoveddokument>\n",
            xml_escape(href),
            xml_escape(mime)
        ));
    }
    s.push_str("</manifest>\n");
    s
}

/// `META-INF/ASiCManifest.xml` (ETSI TS 102 918; efm-asic `CadesAsicManifest`): SigReference,
/// then one DataObjectReference per file.
pub fn asic_manifest(signature_uri: &str, objects: &[DataObject]) -> String {
    use base64::Engine;
    let mut s = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n");
    s.push_str(&format!(
        "<ASiCManifest xmlns=\"{ASIC_NS}\" xmlns:ns2=\"{DSIG_NS}\">\n"
    ));
    s.push_str(&format!(
        "    <SigReference URI=\"{}\" MimeType=\"{SIGNATURE_MIME}\"/>\n",
        xml_escape(signature_uri)
    ));
    for o in objects {
        s.push_str(&format!(
            "    <DataObjectReference URI=\"{}\" MimeType=\"{}\">\n        <ns2:DigestMethod Algorithm=\"{SHA256_URI}\"/>\n        <ns2:DigestValue>{}</ns2:DigestValue>\n    </DataObjectReference>\n",
            xml_escape(&o.uri),
            xml_escape(&o.mime),
            base64::engine::general_purpose::STANDARD.encode(o.sha256)
        ));
    }
    s.push_str("</ASiCManifest>\n");
    s
}

/// `META-INF/manifest.xml`, the OASIS OpenDocument manifest (efm-asic `OasisManifest`).
pub fn oasis_manifest(objects: &[DataObject]) -> String {
    let mut s = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n");
    s.push_str(&format!("<ns1:manifest xmlns:ns1=\"{OASIS_NS}\">\n"));
    s.push_str("    <ns1:file-entry ns1:full-path=\"/\" ns1:media-type=\"application/vnd.etsi.asic-e+zip\"/>\n");
    for o in objects {
        s.push_str(&format!(
            "    <ns1:file-entry ns1:full-path=\"{}\" ns1:media-type=\"{}\"/>\n",
            xml_escape(&o.uri),
            xml_escape(&o.mime)
        ));
    }
    s.push_str("</ns1:manifest>\n");
    s
}

/// What a received ASiCManifest says.
#[derive(Debug, Clone, Default)]
pub struct ParsedAsicManifest {
    pub signature_uri: Option<String>,
    pub objects: Vec<DataObject>,
}

fn bad(msg: impl Into<String>) -> Error {
    Error::new(
        ErrorKind::PackageInvalid,
        format!("META-INF/ASiCManifest.xml: {}", msg.into()),
    )
}

/// Parse `META-INF/ASiCManifest.xml`. Only SHA-256 digests are accepted (what the IP writes).
pub fn parse_asic_manifest(xml: &[u8]) -> Result<ParsedAsicManifest> {
    use base64::Engine;
    let mut reader = quick_xml::Reader::from_reader(xml);
    reader.config_mut().trim_text(true);
    let mut buf = Vec::new();
    let mut out = ParsedAsicManifest::default();
    let mut root_seen = false;
    // The DataObjectReference being read: (uri, mime, algorithm, digest).
    let mut cur: Option<(String, String, Option<String>, Option<String>)> = None;
    let mut in_digest_value = false;
    loop {
        let ev = reader
            .read_event_into(&mut buf)
            .map_err(|e| bad(format!("not well-formed XML: {e}")))?;
        match ev {
            Event::DocType(_) => return Err(bad("a DOCTYPE is not allowed")),
            Event::Start(ref e) | Event::Empty(ref e) => {
                let is_empty = matches!(ev, Event::Empty(_));
                let local = e.local_name();
                let local = std::str::from_utf8(local.as_ref())
                    .unwrap_or("")
                    .to_string();
                let attr = |key: &str| -> Result<Option<String>> {
                    for a in e.attributes() {
                        let a = a.map_err(|e| bad(format!("bad attribute: {e}")))?;
                        if a.key.local_name().as_ref() == key.as_bytes() {
                            let v = a
                                .unescape_value()
                                .map_err(|e| bad(format!("bad attribute value: {e}")))?;
                            return Ok(Some(v.into_owned()));
                        }
                    }
                    Ok(None)
                };
                match local.as_str() {
                    "ASiCManifest" => root_seen = true,
                    "SigReference" => out.signature_uri = attr("URI")?,
                    "DataObjectReference" => {
                        let uri =
                            attr("URI")?.ok_or_else(|| bad("DataObjectReference without URI"))?;
                        let mime = attr("MimeType")?.unwrap_or_default();
                        cur = Some((uri, mime, None, None));
                        if is_empty {
                            return Err(bad("DataObjectReference without a digest"));
                        }
                    }
                    "DigestMethod" => {
                        if let Some(c) = cur.as_mut() {
                            c.2 = attr("Algorithm")?;
                        }
                    }
                    "DigestValue" => in_digest_value = !is_empty,
                    _ => {}
                }
                if !root_seen {
                    return Err(bad(format!(
                        "the root element is {local:?}, expected ASiCManifest"
                    )));
                }
            }
            Event::Text(t) if in_digest_value => {
                let text = t.unescape().map_err(|e| bad(format!("bad text: {e}")))?;
                if let Some(c) = cur.as_mut() {
                    c.3 = Some(c.3.take().unwrap_or_default() + text.trim());
                }
            }
            Event::End(ref e) => match e.local_name().as_ref() {
                b"DigestValue" => in_digest_value = false,
                b"DataObjectReference" => {
                    let (uri, mime, alg, digest) = cur
                        .take()
                        .ok_or_else(|| bad("unbalanced DataObjectReference"))?;
                    // Older writers name SHA-256 by its XML-DSig URI; the IP's ASiC library
                    // rewrites `xmldsig#sha` to `xmlenc#sha` before comparing, so do we.
                    let alg = alg.map(|a| {
                        a.replace(
                            "http://www.w3.org/2000/09/xmldsig#sha",
                            "http://www.w3.org/2001/04/xmlenc#sha",
                        )
                    });
                    if alg.as_deref() != Some(SHA256_URI) {
                        return Err(bad(format!("{uri}: digest algorithm {alg:?} is not supported (expected {SHA256_URI})")));
                    }
                    let digest = digest.ok_or_else(|| bad(format!("{uri}: no DigestValue")))?;
                    let bytes = base64::engine::general_purpose::STANDARD
                        .decode(digest.as_bytes())
                        .map_err(|_| bad(format!("{uri}: DigestValue is not base64")))?;
                    let sha256: [u8; 32] = bytes
                        .try_into()
                        .map_err(|_| bad(format!("{uri}: DigestValue is not a SHA-256 value")))?;
                    if out.objects.iter().any(|o| o.uri == uri) {
                        return Err(bad(format!("{uri} is listed twice")));
                    }
                    out.objects.push(DataObject { uri, mime, sha256 });
                }
                _ => {}
            },
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    if !root_seen {
        return Err(bad("no ASiCManifest element"));
    }
    Ok(out)
}
