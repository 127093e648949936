//! [`Images`] over the node's image store (`kedge_images::ImageStore`).

use super::deps::{ImageInfo, Images};

pub struct ImageAdapter(pub kedge_images::ImageStore);

impl Images for ImageAdapter {
    fn resolve(&self, reference: &str) -> Option<ImageInfo> {
        let img = self.0.resolve(reference)?;
        let _ = self.0.touch(reference);
        Some(ImageInfo {
            id: img.id,
            repo_tags: img.repo_tags,
            repo_digest: img.repo_digest,
            entrypoint: img.config.entrypoint,
            cmd: img.config.cmd,
            env: img.config.env,
            working_dir: img.config.working_dir,
            user: img.config.user,
            layers: img.layers,
        })
    }

    fn gc(&self, high_pct: u8, low_pct: u8, in_use: &std::collections::HashSet<String>) {
        if let Err(e) = self.0.gc(high_pct, low_pct, in_use) {
            eprintln!("kedge agent: image gc: {e}");
        }
    }
}
