use super::*;

fn open(dir: &Path, retain: u64) -> Store {
    Store::open(
        dir,
        Options {
            retain_revisions: retain,
            cache_events: 8,
            map_size: 64 << 20,
        },
    )
    .unwrap()
}

fn put(key: &str, value: &str) -> Op {
    Op::Create {
        key: key.as_bytes().to_vec(),
        value: value.as_bytes().to_vec(),
    }
}

fn done_rev(o: &OpOutcome) -> u64 {
    match o {
        OpOutcome::Done(_, rev) => *rev,
        other => panic!("expected Done, got {other:?}"),
    }
}

#[test]
fn conditional_writes_and_revisions() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path(), 100);
    smol::block_on(async {
        let out = s
            .write(vec![put("/a/1", "x"), put("/a/2", "y")])
            .await
            .unwrap();
        assert_eq!(done_rev(&out[0]), 1);
        assert_eq!(done_rev(&out[1]), 2);
        let out = s.write(vec![put("/a/1", "z")]).await.unwrap();
        assert!(matches!(&out[0], OpOutcome::Exists(r) if &*r.value == b"x"));
        let stale = Op::Update {
            key: b"/a/1".to_vec(),
            value: b"w".to_vec(),
            expect: Some(7),
        };
        let out = s.write(vec![stale]).await.unwrap();
        assert!(matches!(&out[0], OpOutcome::Conflict(r) if r.mod_rev == 1));
        let ok = Op::Update {
            key: b"/a/1".to_vec(),
            value: b"w".to_vec(),
            expect: Some(1),
        };
        let out = s.write(vec![ok]).await.unwrap();
        assert_eq!(done_rev(&out[0]), 3);
        let (rec, rev) = s.get(b"/a/1").unwrap();
        let rec = rec.unwrap();
        assert_eq!(
            (&*rec.value, rec.create_rev, rec.mod_rev, rev),
            (&b"w"[..], 1, 3, 3)
        );
        let del = Op::Delete {
            key: b"/a/2".to_vec(),
            expect: None,
        };
        let out = s.write(vec![del.clone()]).await.unwrap();
        assert_eq!(done_rev(&out[0]), 4);
        let out = s.write(vec![del]).await.unwrap();
        assert_eq!(out[0], OpOutcome::Missing);
        assert_eq!(s.revision(), 4);
    });
}

#[test]
fn list_is_prefix_bounded_and_pages() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path(), 100);
    smol::block_on(async {
        let ops = ["/p/a/1", "/p/a/2", "/p/a/3", "/p/ab/1", "/q/1"]
            .iter()
            .map(|k| put(k, "v"))
            .collect();
        s.write(ops).await.unwrap();
    });
    let (all, rev, more) = s.list(b"/p/a/", None, None).unwrap();
    assert_eq!(all.len(), 3);
    assert_eq!((rev, more), (5, false));
    let (page, _, more) = s.list(b"/p/a/", None, Some(2)).unwrap();
    assert_eq!(page.len(), 2);
    assert!(more);
    let mut next = page[1].key.clone();
    next.push(0);
    let (rest, _, more) = s.list(b"/p/a/", Some(&next), Some(2)).unwrap();
    assert_eq!(rest.len(), 1);
    assert_eq!(rest[0].key, b"/p/a/3");
    assert!(!more);
    assert_eq!(s.count(b"/p/").unwrap(), 4);
}

#[test]
fn watch_replays_log_then_follows_live() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path(), 1000);
    smol::block_on(async {
        // More writes than the cache holds, so the early part must come from the log.
        for i in 0..20 {
            s.write(vec![put(&format!("/w/{i:02}"), "v")])
                .await
                .unwrap();
        }
        s.write(vec![put("/other/x", "v")]).await.unwrap();
        let mut w = s.watch(b"/w/", 3).unwrap();
        let mut seen = Vec::new();
        while seen.len() < 17 {
            for e in w.next().await.unwrap() {
                seen.push(e.rev);
            }
        }
        assert_eq!(seen, (4..=20).collect::<Vec<_>>());
        assert!(w.poll().unwrap().is_none());
        let s2 = s.clone();
        let task = smol::spawn(async move { w.next().await.unwrap() });
        s2.write(vec![Op::Delete {
            key: b"/w/05".to_vec(),
            expect: None,
        }])
        .await
        .unwrap();
        let batch = task.await;
        assert_eq!(batch.len(), 1);
        assert_eq!(batch[0].kind, EventKind::Delete);
        assert_eq!(&*batch[0].key, b"/w/05");
        assert_eq!(batch[0].rev, 22);
        assert_eq!(batch[0].prev.as_deref(), Some(&b"v"[..]));
    });
}

#[test]
fn compaction_expires_old_revisions_and_keeps_disk_flat() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path(), 50);
    let value = "x".repeat(2000);
    smol::block_on(async {
        s.write(vec![put("/k", &value)]).await.unwrap();
        let mut sizes = Vec::new();
        for round in 0..6 {
            for _ in 0..200 {
                let (cur, _) = s.get(b"/k").unwrap();
                let op = Op::Update {
                    key: b"/k".to_vec(),
                    value: value.as_bytes().to_vec(),
                    expect: Some(cur.unwrap().mod_rev),
                };
                s.write(vec![op]).await.unwrap();
            }
            if round >= 2 {
                sizes.push(s.disk_size().unwrap());
            }
        }
        assert!(s.compacted_revision() >= s.revision() - 55);
        assert!(matches!(
            s.watch(b"/", 1),
            Err(StoreError::Compacted { .. })
        ));
        assert!(s.watch(b"/", s.revision() - 10).is_ok());
        // Freed pages are reused, so the file stops growing once the window is full.
        assert_eq!(sizes.first(), sizes.last(), "sizes: {sizes:?}");
    });
}

#[test]
fn reopen_keeps_records_revision_and_log() {
    let dir = tempfile::tempdir().unwrap();
    let sub = dir.path().join("db");
    {
        let s = open(&sub, 100);
        smol::block_on(s.write(vec![put("/a", "1"), put("/b", "2")])).unwrap();
        s.close();
    }
    // heed refuses a second open of the same environment in one process while the first lives;
    // the first handle's env is dropped with the last Arc once the writer thread exits.
    std::thread::sleep(std::time::Duration::from_millis(100));
    let s = open(&sub, 100);
    assert_eq!(s.revision(), 2);
    let (rec, _) = s.get(b"/b").unwrap();
    assert_eq!(&*rec.unwrap().value, b"2");
    let mut w = s.watch(b"/", 0).unwrap();
    let batch = w.poll().unwrap().unwrap();
    assert_eq!(batch.iter().map(|e| e.rev).collect::<Vec<_>>(), vec![1, 2]);
    let out = smol::block_on(s.write(vec![put("/c", "3")])).unwrap();
    assert_eq!(done_rev(&out[0]), 3);
}

#[test]
fn concurrent_writers_share_commits() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path(), 10_000);
    smol::block_on(async {
        let tasks: Vec<_> = (0..16)
            .map(|t| {
                let s = s.clone();
                smol::spawn(async move {
                    for i in 0..50 {
                        let out = s
                            .write(vec![put(&format!("/c/{t}/{i}"), "v")])
                            .await
                            .unwrap();
                        done_rev(&out[0]);
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await;
        }
    });
    assert_eq!(s.count(b"/c/").unwrap(), 800);
    assert_eq!(s.revision(), 800);
}
