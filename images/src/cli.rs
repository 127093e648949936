//! `kedge images`: manage the node's image store from the command line (air-gapped imports,
//! listing, removal). The running agent sees changes on its next lookup (it re-reads the
//! index when the file changes); both sides serialize writes with the store's lock.

use std::collections::HashSet;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Subcommand};

use crate::store::ImageStore;

/// The data dir of the node (the store is `<data-dir>/agent/images`).
#[derive(Args, Debug, Clone)]
pub struct StoreArgs {
    #[arg(long, value_name = "DIR", default_value = "/var/lib/kedge")]
    pub data_dir: PathBuf,
}

impl StoreArgs {
    pub fn store_root(&self) -> PathBuf {
        self.data_dir.join("agent/images")
    }
}

#[derive(Subcommand, Debug)]
pub enum ImagesCmd {
    /// Import docker-save or OCI image-layout archives (.tar, .tar.gz)
    Import {
        #[arg(required = true, value_name = "ARCHIVE")]
        files: Vec<PathBuf>,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// List images
    Ls {
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Remove images (a tag of a multi-tagged image is only untagged)
    Rm {
        #[arg(required = true, value_name = "IMAGE")]
        refs: Vec<String>,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Remove untagged images (with --all: every image; this command does not know which
    /// images running containers use)
    Prune {
        #[arg(long)]
        all: bool,
        #[command(flatten)]
        store: StoreArgs,
    },
}

pub fn run(cmd: ImagesCmd) -> anyhow::Result<()> {
    match cmd {
        ImagesCmd::Import { files, store } => {
            let s = open(&store)?;
            for f in files {
                let refs = s
                    .import(&f)
                    .with_context(|| format!("import {}", f.display()))?;
                for r in refs {
                    let names = if r.repo_tags.is_empty() {
                        "<none>".to_string()
                    } else {
                        r.repo_tags.join(", ")
                    };
                    println!("imported {} {}", short_id(&r.id), names);
                }
            }
        }
        ImagesCmd::Ls { store } => {
            let s = open(&store)?;
            println!(
                "{:<50} {:<20} {:<14} {:>10}",
                "REPOSITORY", "TAG", "IMAGE ID", "SIZE"
            );
            for img in s.list() {
                let tags = if img.repo_tags.is_empty() {
                    vec!["<none>:<none>".to_string()]
                } else {
                    img.repo_tags.clone()
                };
                for t in tags {
                    let (repo, tag) = t.rsplit_once(':').unwrap_or((&t, ""));
                    println!(
                        "{repo:<50} {tag:<20} {:<14} {:>10}",
                        short_id(&img.id),
                        human_size(img.size)
                    );
                }
            }
        }
        ImagesCmd::Rm { refs, store } => {
            let s = open(&store)?;
            for r in refs {
                let deleted = s.remove(&r).with_context(|| format!("remove {r}"))?;
                if deleted.is_empty() {
                    println!("untagged {r}");
                }
                for id in deleted {
                    println!("deleted {id}");
                }
            }
        }
        ImagesCmd::Prune { all, store } => {
            let s = open(&store)?;
            let keep: HashSet<String> = if all {
                HashSet::new()
            } else {
                s.list()
                    .into_iter()
                    .filter(|i| !i.repo_tags.is_empty())
                    .map(|i| i.id)
                    .collect()
            };
            for id in s.prune(&keep).context("prune images")? {
                println!("deleted {id}");
            }
        }
    }
    Ok(())
}

fn open(args: &StoreArgs) -> anyhow::Result<ImageStore> {
    let root = args.store_root();
    ImageStore::open(&root).with_context(|| format!("open image store {}", root.display()))
}

fn short_id(id: &str) -> &str {
    let hex = id.strip_prefix("sha256:").unwrap_or(id);
    &hex[..hex.len().min(12)]
}

fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["B", "kB", "MB", "GB"];
    let mut v = bytes as f64;
    let mut unit = 0;
    while v >= 1000.0 && unit < UNITS.len() - 1 {
        v /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes}B")
    } else {
        format!("{v:.1}{}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testimage::{write_docker_archive, LayerBuilder};

    #[test]
    fn import_ls_rm_prune_round_trip() {
        let tmp = tempfile::tempdir().unwrap();
        let store = StoreArgs {
            data_dir: tmp.path().join("data"),
        };
        let mut l = LayerBuilder::new();
        l.file("f", b"1", 0o644).unwrap();
        let archive = tmp.path().join("a.tar");
        let config = serde_json::json!({});
        write_docker_archive(&archive, &["a:1", "a:2"], &[l.finish().unwrap()], config).unwrap();
        run(ImagesCmd::Import {
            files: vec![archive],
            store: store.clone(),
        })
        .unwrap();
        run(ImagesCmd::Ls {
            store: store.clone(),
        })
        .unwrap();
        let s = ImageStore::open(&store.store_root()).unwrap();
        assert!(s.resolve("docker.io/library/a:1").is_some());
        run(ImagesCmd::Rm {
            refs: vec!["a:1".into()],
            store: store.clone(),
        })
        .unwrap();
        assert!(s.resolve("a:2").is_some());
        run(ImagesCmd::Prune {
            all: false,
            store: store.clone(),
        })
        .unwrap();
        assert!(
            s.resolve("a:2").is_some(),
            "tagged images survive a plain prune"
        );
        run(ImagesCmd::Prune { all: true, store }).unwrap();
        assert!(s.list().is_empty());
        assert_eq!(human_size(999), "999B");
        assert_eq!(human_size(1_500_000), "1.5MB");
    }
}
