//! The error type of the image store.

use std::io;

/// Everything that can go wrong while importing, resolving or collecting images.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: io::Error,
    },
    #[error("{context}: {source}")]
    Json {
        context: String,
        #[source]
        source: serde_json::Error,
    },
    /// A layer entry that would escape the layer directory (or is otherwise unsafe): the whole
    /// import is refused.
    #[error("refusing layer entry {entry:?}: {reason}")]
    UnsafeEntry { entry: String, reason: String },
    #[error("digest mismatch for {what}: expected {expected}, got {actual}")]
    DigestMismatch {
        what: String,
        expected: String,
        actual: String,
    },
    #[error("invalid image archive: {0}")]
    Format(String),
    #[error("unsupported: {0}")]
    Unsupported(String),
    #[error("no image for linux/{arch} in the archive")]
    NoPlatform { arch: String },
    #[error("invalid reference {reference:?}: {reason}")]
    InvalidReference { reference: String, reason: String },
    #[error("image {0:?} not found")]
    NotFound(String),
    #[error("image reference {0:?} is ambiguous")]
    Ambiguous(String),
}

impl ImageError {
    pub(crate) fn io(context: impl Into<String>, source: impl Into<io::Error>) -> ImageError {
        ImageError::Io {
            context: context.into(),
            source: source.into(),
        }
    }

    pub(crate) fn json(context: impl Into<String>, source: serde_json::Error) -> ImageError {
        ImageError::Json {
            context: context.into(),
            source,
        }
    }

    pub(crate) fn format(msg: impl Into<String>) -> ImageError {
        ImageError::Format(msg.into())
    }
}
