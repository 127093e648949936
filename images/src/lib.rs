//! kedge-images: the image store of the node agent.
//!
//! Contract: [`ImageStore`] imports docker-save and OCI image-layout archives (air-gapped nodes,
//! tests) into a content-addressed store under `<data>/agent/images`, verifying every digest,
//! unpacking each layer once (shared between images) with whiteouts converted to the overlayfs
//! form and refusing any archive that would write outside a layer directory. It resolves
//! references the way docker does (`busybox` == `docker.io/library/busybox:latest`, image ids and
//! unique id prefixes) and hands the runtime the unpacked layer directories, BOTTOM layer first
//! (overlayfs wants `lowerdir=top:...:bottom`, so the runtime reverses them), plus the image
//! config. Nothing here mounts anything.
//!
//! Layout of the store root:
//! - `blobs/sha256/<hex>`: configs, manifests and layer blobs, named by their verified digest;
//! - `layers/<diffid-hex>/fs`: the unpacked layer, `layers/<diffid-hex>/.complete` its marker
//!   (present only once the directory was renamed into place);
//! - `index.json`: names and images, replaced atomically; an image exists once it is listed here;
//! - `tmp/`: staging for imports, emptied by the next import or prune;
//! - `*.tar`: archives picked up by [`ImageStore::import_dir`].

pub mod cli;
mod config;
mod digest;
mod error;
mod formats;
mod gc;
mod import;
mod index;
mod reference;
mod staging;
mod store;
mod sys;
pub mod testimage;
mod unpack;

pub use config::ImageConfig;
pub use error::ImageError;
pub use gc::GcReport;
pub use reference::Reference;
pub use store::{DirImport, Image, ImageRef, ImageStore, ImageSummary};

#[cfg(test)]
mod tests;
