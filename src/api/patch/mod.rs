//! Patch formats that need more than a library: strategic merge patch.
pub mod strategic;
