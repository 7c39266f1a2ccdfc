//! [`PullBuffers`]: memory that pulls reuse instead of allocating afresh.

use std::fmt;
use std::sync::Arc;

/// Where a pull finds buffers to reuse, for its body and for its
/// decompressed groups.
///
/// A pull of several megabytes needs two large buffers; allocated afresh
/// each time, their pages are faulted in on every pull, which costs more
/// than copying the body. A reader that pulls in a loop can instead hand
/// each answer's buffers back once it is done with them (its
/// [`compressed`](crate::PullLogsResponse::compressed) body and its
/// groups' buffer, [`LogGroupListView::into_bytes`](sls_proto::LogGroupListView::into_bytes),
/// turned back into a `Vec` with [`bytes::Bytes::try_into_mut`] when no
/// other reference is left), keep them, and give them out again here.
/// sls-consumer's workers do so within their memory budget.
///
/// A pull asks twice: for the body (as long as its `Content-Length`, never
/// past the client's response cap) and, when the body is compressed, for
/// the decompressed groups (as long as the declared raw size, already
/// checked against the pull's limits). It writes over whatever the buffer
/// held.
pub trait PullBuffers: Send + Sync + fmt::Debug {
    /// A buffer to write `len` bytes over: the smallest free one that
    /// holds them, or an empty `Vec` (which has allocated nothing) when
    /// none does. Must not allocate `len` bytes itself: `len` comes from
    /// the server's headers.
    fn take(&self, len: usize) -> Vec<u8>;
}

/// The buffers a request may reuse, if any. Requests compare equal
/// whatever buffers they carry: where memory comes from is not part of
/// what is asked.
#[derive(Debug, Clone, Default)]
pub(crate) struct Buffers(pub(crate) Option<Arc<dyn PullBuffers>>);

impl PartialEq for Buffers {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for Buffers {}
