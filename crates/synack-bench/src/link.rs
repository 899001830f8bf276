//! The in-memory link both in-process stacks use: two queues of IP packets, one per direction,
//! in MTU-sized buffers recycled through a pool, so moving a packet costs its one write by the
//! sender and its one read by the receiver — no allocation, no extra copy, no zeroing.

use std::cell::RefCell;
use std::collections::VecDeque;

pub type Queue = VecDeque<(Box<[u8]>, usize)>;

/// Buffers of one MTU, shared by both directions.
pub struct Pool {
    mtu: usize,
    free: RefCell<Vec<Box<[u8]>>>,
}

impl Pool {
    /// A buffer of MTU bytes to write a packet into (its old contents are left as they were).
    pub fn take(&self) -> Box<[u8]> {
        self.free
            .borrow_mut()
            .pop()
            .unwrap_or_else(|| vec![0u8; self.mtu].into_boxed_slice())
    }

    pub fn give(&self, buf: Box<[u8]>) {
        self.free.borrow_mut().push(buf);
    }

    pub fn mtu(&self) -> usize {
        self.mtu
    }
}

pub struct Link {
    /// `queues[0]` carries A → B, `queues[1]` B → A.
    pub queues: [Queue; 2],
    pub pool: Pool,
}

impl Link {
    /// A link for datagrams of up to `mtu` bytes.
    pub fn new(mtu: usize) -> Link {
        Link {
            queues: [VecDeque::new(), VecDeque::new()],
            pool: Pool {
                mtu,
                free: RefCell::new(Vec::new()),
            },
        }
    }

    /// Queues the first `len` bytes of `buf` from `side` (0 = A, 1 = B) to the other side.
    pub fn push(&mut self, side: usize, buf: Box<[u8]>, len: usize) {
        self.queues[side].push_back((buf, len));
    }

    /// The next packet addressed to `side` (sent by the other side).
    pub fn pop(&mut self, side: usize) -> Option<(Box<[u8]>, usize)> {
        self.queues[1 - side].pop_front()
    }

    /// Makes room for `n` packets on the wire each way and `n` spare buffers, so a run that
    /// stays within that allocates nothing here.
    pub fn reserve(&mut self, n: usize) {
        for q in &mut self.queues {
            q.reserve(n);
        }
        let mut free = self.pool.free.borrow_mut();
        free.reserve(2 * n);
        while free.len() < n {
            free.push(vec![0u8; self.pool.mtu].into_boxed_slice());
        }
    }

    /// Is anything on the wire, either way?
    pub fn busy(&self) -> bool {
        self.queues.iter().any(|q| !q.is_empty())
    }
}
