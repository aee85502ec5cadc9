//! The reply half of an `ask`.

use tokio::sync::oneshot;

/// Where a handler sends its answer. A `tell` carries a *detached* reply that discards it.
///
/// Dropping a `Reply` without sending makes the asker's `ask` fail with
/// [`AskError::NoReply`](super::AskError::NoReply).
pub struct Reply<R> {
    tx: Option<oneshot::Sender<R>>,
}

impl<R> Reply<R> {
    pub(crate) fn channel() -> (Self, oneshot::Receiver<R>) {
        let (tx, rx) = oneshot::channel();
        (Self { tx: Some(tx) }, rx)
    }

    /// A reply nobody waits for (what `tell` sends).
    pub fn detached() -> Self {
        Self { tx: None }
    }

    /// `true` if nobody waits for this reply (a `tell`, or an asker that gave up).
    pub fn is_detached(&self) -> bool {
        self.tx.as_ref().is_none_or(|tx| tx.is_closed())
    }

    /// Sends the answer. Returns `false` if nobody was waiting any more.
    pub fn send(mut self, value: R) -> bool {
        match self.tx.take() {
            Some(tx) => tx.send(value).is_ok(),
            None => false,
        }
    }
}

impl<R> std::fmt::Debug for Reply<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reply").field("detached", &self.tx.is_none()).finish()
    }
}
