//! Observers of link traffic: tools hook in here to draw, count or capture packets.

use std::cell::RefCell;
use std::rc::Rc;

use crate::link::{Delivery, LinkEvent};

/// Something that happened on a link.
#[derive(Clone, Copy, Debug)]
pub enum TapEvent<'a> {
    /// A packet was offered by its sender. Its fate is already decided (the simulator is
    /// omniscient), so a ladder diagram can draw the whole arrow, or a cross for a drop, at once.
    Sent(&'a LinkEvent),
    /// The link made an extra copy of the packet just reported by `Sent`.
    Duplicated(&'a LinkEvent),
    /// A copy reached its receiver (reported just before the receiver handles it).
    Delivered(&'a Delivery),
}

/// An observer registered with [`Link::add_tap`](crate::Link::add_tap).
///
/// The link owns its taps; to read a tap's state afterwards, register an
/// `Rc<RefCell<YourTap>>` clone and keep the other clone. For a closure, use [`from_fn`].
pub trait Tap {
    fn observe(&mut self, event: TapEvent<'_>);
}

impl<T: Tap + ?Sized> Tap for Rc<RefCell<T>> {
    fn observe(&mut self, event: TapEvent<'_>) {
        self.borrow_mut().observe(event);
    }
}

impl<T: Tap + ?Sized> Tap for Box<T> {
    fn observe(&mut self, event: TapEvent<'_>) {
        (**self).observe(event);
    }
}

/// A tap made from a closure.
pub struct FnTap<F>(F);

impl<F: FnMut(TapEvent<'_>)> Tap for FnTap<F> {
    fn observe(&mut self, event: TapEvent<'_>) {
        (self.0)(event);
    }
}

/// Wraps a closure as a [`Tap`].
pub fn from_fn<F: FnMut(TapEvent<'_>)>(f: F) -> FnTap<F> {
    FnTap(f)
}
