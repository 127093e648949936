//! Store scale: open time, full list time and RSS with N objects.

use std::path::Path;
use std::time::Instant;

use anyhow::Result;

use crate::store::{Op, Options, Store};

pub fn run(objects: usize, dir: Option<&Path>) -> Result<()> {
    let tmp = tempfile_dir()?;
    let dir = dir.map(Path::to_path_buf).unwrap_or_else(|| tmp.clone());
    {
        let s = Store::open(&dir, Options::default())?;
        if s.count(b"/registry/core/configmaps/")? < objects {
            let value = br#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x","namespace":"bench","uid":"00000000-0000-0000-0000-000000000000","creationTimestamp":"2026-11-22T00:00:00Z"},"data":{"key":"value"}}"#;
            crate::rt::block_on(async {
                for chunk in (0..objects).collect::<Vec<_>>().chunks(1000) {
                    let ops = chunk
                        .iter()
                        .map(|i| Op::Create {
                            key: format!("/registry/core/configmaps/bench/cm-{i:06}").into_bytes(),
                            value: value.to_vec(),
                        })
                        .collect();
                    s.write(ops).await?;
                }
                Ok::<(), anyhow::Error>(())
            })?;
        }
        s.close();
    }
    std::thread::sleep(std::time::Duration::from_millis(200));
    let rss_before = super::rss_kib("self").unwrap_or(0);
    let t = Instant::now();
    let s = Store::open(&dir, Options::default())?;
    let open_ms = t.elapsed().as_secs_f64() * 1000.0;
    let t = Instant::now();
    let (recs, _, _) = s.list(b"/registry/core/configmaps/", None, None)?;
    let mut parsed = 0usize;
    for r in &recs {
        let v: serde_json::Value = serde_json::from_slice(&r.value)?;
        parsed += usize::from(v.is_object());
    }
    let list_ms = t.elapsed().as_secs_f64() * 1000.0;
    let rss_after = super::rss_kib("self").unwrap_or(0);
    drop(recs);
    println!(
        "store: objects={parsed} open={open_ms:.1}ms list+decode={list_ms:.1}ms rss_before={}MiB rss_after_list={}MiB disk={}MiB",
        rss_before / 1024,
        rss_after / 1024,
        s.disk_size()? / (1024 * 1024)
    );
    s.close();
    if dir == tmp {
        let _ = std::fs::remove_dir_all(&tmp);
    }
    Ok(())
}

fn tempfile_dir() -> Result<std::path::PathBuf> {
    let d = std::env::temp_dir().join(format!("kedge-bench-store-{}", std::process::id()));
    std::fs::create_dir_all(&d)?;
    Ok(d)
}
