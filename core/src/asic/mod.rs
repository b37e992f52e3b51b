//! ASiC-E containers as DPO uses them (efm-common `CreateAsice` on efm-asic, which the IP's
//! `AsicHandlerImpl` calls): a zip with `mimetype`, the eFormidling `manifest.xml`, the documents,
//! a CAdES `META-INF/ASiCManifest.xml` with SHA-256 digests, its detached CMS signature and the
//! OASIS `META-INF/manifest.xml`.
//!
//! `writer` streams documents into a signed container; `reader` verifies and extracts one in a
//! single pass; `manifests` holds the XML; `signature` the CMS signature; `zipfmt` the zip format
//! (also used for the outer DPO package).

pub mod manifests;
mod offload;
pub mod placement;
pub mod reader;
pub mod signature;
pub mod verify;
pub mod writer;
pub mod zipfmt;

pub use reader::{extract_asic, AsicReadOptions, ExtractedAsic, ExtractedFile};
pub use signature::SignatureDigest;
pub use writer::{
    write_asic, AsicSummary, AsicWriteOptions, Compression, DocumentSource, DownstreamDigests,
};

/// The content of the `mimetype` entry.
pub const ASIC_MIMETYPE: &str = "application/vnd.etsi.asic-e+zip";
/// The comment the IP puts on the `mimetype` entry and on the archive (`AsicOutputStream`).
pub const MIMETYPE_COMMENT: &str = "mimetype=application/vnd.etsi.asic-e+zip";
