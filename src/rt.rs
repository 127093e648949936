//! The async runtime: one smol executor driven by as many threads as the machine has cores.
//!
//! Contract: [`spawn`] runs a future on the shared executor; [`block_on`] runs the process's main
//! future and returns its output once it completes, with the worker threads stopping after it.

use std::future::Future;
use std::sync::OnceLock;

use async_executor::{Executor, Task};

static EXECUTOR: OnceLock<Executor<'static>> = OnceLock::new();

fn executor() -> &'static Executor<'static> {
    EXECUTOR.get_or_init(Executor::new)
}

/// Spawn a task on the shared executor.
pub fn spawn<T: Send + 'static>(fut: impl Future<Output = T> + Send + 'static) -> Task<T> {
    executor().spawn(fut)
}

/// Run `main` to completion with worker threads helping the executor.
pub fn block_on<T>(main: impl Future<Output = T>) -> T {
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .clamp(1, 8);
    let (stop, stopped) = smol::channel::unbounded::<()>();
    let mut workers = Vec::new();
    for i in 1..threads {
        let stopped = stopped.clone();
        if let Ok(h) = std::thread::Builder::new()
            .name(format!("kedge-rt-{i}"))
            .spawn(move || smol::block_on(executor().run(stopped.recv())))
        {
            workers.push(h);
        }
    }
    let out = smol::block_on(executor().run(main));
    drop(stop);
    for w in workers {
        let _ = w.join();
    }
    out
}

/// The executor adapter hyper needs to spawn its HTTP/2 stream tasks.
#[derive(Clone, Copy, Debug, Default)]
pub struct HyperExecutor;

impl<F> hyper::rt::Executor<F> for HyperExecutor
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    fn execute(&self, fut: F) {
        spawn(fut).detach();
    }
}
