// SPDX-License-Identifier: GPL-2.0

//! Eventfds: the counters userspace creates with `eventfd(2)` and the kernel
//! signals, the usual way for a device to tell a VMM (or KVM) that something
//! happened, and the key on which IRQ bypass producers and consumers meet.
//!
//! C header: [`include/linux/eventfd.h`](srctree/include/linux/eventfd.h)

use crate::{
    bindings,
    error::from_err_ptr,
    fs::LocalFile,
    prelude::*, //
};
use core::ptr::NonNull;

/// A reference to an eventfd context.
///
/// # Invariants
///
/// `self.0` is a valid `struct eventfd_ctx` on which this holds a reference.
pub struct EventFd(NonNull<bindings::eventfd_ctx>);

// SAFETY: An eventfd context is reference counted and may be used and put
// from any thread.
unsafe impl Send for EventFd {}
// SAFETY: As above.
unsafe impl Sync for EventFd {}

impl EventFd {
    /// Takes a reference to the eventfd behind the calling process's file
    /// descriptor `fd`. Fails with `EBADF` if `fd` is not open and `EINVAL`
    /// if it is not an eventfd.
    pub fn from_fd(fd: i32) -> Result<Self> {
        // SAFETY: Any value is accepted; the result is a referenced context or
        // an error pointer.
        let ctx = from_err_ptr(unsafe { bindings::eventfd_ctx_fdget(fd) })?;
        // INVARIANT: `eventfd_ctx_fdget` returned a referenced context.
        Ok(EventFd(NonNull::new(ctx).ok_or(EINVAL)?))
    }

    /// Takes two references to the eventfd behind the calling process's file
    /// descriptor `fd`, from one lookup of the file: both are the same
    /// context even if another thread replaces `fd` meanwhile. (One signals;
    /// the other can key an IRQ bypass producer, which must hold its own.)
    /// Fails as [`EventFd::from_fd`] does.
    pub fn pair_from_fd(fd: i32) -> Result<(Self, Self)> {
        let fd = u32::try_from(fd).map_err(|_| EBADF)?;
        let file = LocalFile::fget(fd)?;
        let get = || -> Result<Self> {
            // SAFETY: `file` is a valid file for the duration of the call; the
            // result is a referenced context or an error pointer.
            let ctx = from_err_ptr(unsafe { bindings::eventfd_ctx_fileget(file.as_ptr()) })?;
            // INVARIANT: `eventfd_ctx_fileget` returned a referenced context.
            Ok(EventFd(NonNull::new(ctx).ok_or(EINVAL)?))
        };
        let first = get()?;
        Ok((first, get()?))
    }

    /// Adds one to the counter and wakes its waiters. Any context may call
    /// it, a hard interrupt handler too.
    pub fn signal(&self) {
        // SAFETY: The context is valid (type invariants); a mask of 0 is a
        // plain signal.
        unsafe { bindings::eventfd_signal_mask(self.0.as_ptr(), 0) }
    }

    /// Returns the context, for comparisons and C calls.
    pub fn as_ptr(&self) -> *mut bindings::eventfd_ctx {
        self.0.as_ptr()
    }
}

impl Drop for EventFd {
    fn drop(&mut self) {
        // SAFETY: The reference is ours (type invariants).
        unsafe { bindings::eventfd_ctx_put(self.0.as_ptr()) }
    }
}
