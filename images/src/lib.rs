//! kedge-images: the OCI image store of the node agent.
//!
//! Contract (filled by the agent issue): pull images from OCI registries (and import OCI archives),
//! verify digests, unpack layers with whiteout handling into a content-addressed store under
//! `/var/lib/kedge/images`, refuse path escapes, and hand the runtime the ordered layer directories
//! for an overlayfs root plus the image config. Nothing is implemented yet: the crate exists so the
//! workspace has its final shape.
