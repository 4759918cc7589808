// SPDX-License-Identifier: GPL-2.0

//! The callbacks a vDPA bus driver gives a device: one per virtqueue, called
//! when the device used buffers, and one for config changes.
//!
//! The abstraction keeps them; a parent never sees one. It can only ask for
//! queue N's callback (or the config callback) to be called, through
//! [`Callbacks`], which calls it under an interrupt-safe lock. The
//! abstraction sets and clears the callbacks under the same lock when the bus
//! driver asks (`set_vq_cb`, `set_config_cb`), clears them all before the
//! parent's `reset` and `compat_reset` run and when the device leaves the
//! bus. So once the bus driver replaced, cleared or reset them, its old
//! callback is neither running nor called again, and it may free what the
//! callback pointed to, as with the C parents, which call them under their
//! lock.

use crate::{
    bindings,
    irq::IrqReturn,
    new_spinlock_irq,
    prelude::*,
    sync::{
        Arc,
        SpinLockIrq, //
    },
};

/// A callback as the bus driver gave it in a `struct vdpa_callback`.
///
/// # Invariants
///
/// By the vDPA contract, `func` may be called with `private` from any context
/// until the bus driver replaces the callback or resets the device.
#[derive(Clone, Copy)]
struct Raw {
    func: unsafe extern "C" fn(*mut c_void) -> bindings::irqreturn_t,
    private: *mut c_void,
}

// SAFETY: By the vDPA contract a callback may be called from any context and
// any thread, like an interrupt handler.
unsafe impl Send for Raw {}

impl Raw {
    /// # Safety
    ///
    /// `cb` must be null or point to a valid `struct vdpa_callback` given by
    /// the device's bus driver.
    unsafe fn from_raw(cb: *const bindings::vdpa_callback) -> Option<Raw> {
        // SAFETY: `cb` is null or valid by the safety requirements.
        let cb = unsafe { cb.as_ref() }?;
        // INVARIANT: Given by the bus driver through the config ops.
        cb.callback.map(|func| Raw {
            func,
            private: cb.private,
        })
    }

    fn call(self) -> IrqReturn {
        // SAFETY: By the type invariants the callback is callable with its
        // private data; `Callbacks` only calls one it holds, under its lock,
        // so it was not replaced or reset in between.
        let r = unsafe { (self.func)(self.private) };
        if r == bindings::irqreturn_IRQ_HANDLED {
            IrqReturn::Handled
        } else {
            IrqReturn::None
        }
    }
}

/// The callbacks of a vDPA device: one slot per virtqueue and one for config
/// changes.
///
/// A parent creates it with as many slots as its device has virtqueues and
/// gives it to [`UnregisteredDevice::new`](super::UnregisteredDevice::new);
/// it may keep a reference for the code that signals the driver (a worker,
/// an MSI-X handler). A set of callbacks serves one device at a time.
///
/// # Invariants
///
/// `slots` has `nvqs + 1` entries: the virtqueues', then the config
/// callback's.
#[pin_data]
pub struct Callbacks {
    #[pin]
    slots: SpinLockIrq<KVec<Option<Raw>>>,
    nvqs: u16,
}

impl Callbacks {
    /// Creates empty callbacks for a device of `nvqs` virtqueues.
    pub fn new(nvqs: u16) -> Result<Arc<Self>> {
        let n = usize::from(nvqs) + 1;
        let mut slots = KVec::with_capacity(n, GFP_KERNEL)?;
        for _ in 0..n {
            slots.push(None, GFP_KERNEL)?;
        }
        // INVARIANT: `nvqs + 1` slots.
        Arc::pin_init(
            pin_init!(Callbacks {
                slots <- new_spinlock_irq!(slots, "vdpa::Callbacks::slots"),
                nvqs,
            }),
            GFP_KERNEL,
        )
    }

    /// Returns the number of virtqueues the callbacks serve.
    pub fn nvqs(&self) -> u16 {
        self.nvqs
    }

    /// Calls the callback of slot `idx`, if one is set.
    fn call(&self, idx: usize) -> Option<IrqReturn> {
        // A callback schedules NAPI or completes requests: from a thread, do
        // what an interrupt handler's return would, run the softirqs it
        // raised when it is done. In an interrupt handler, or with
        // interrupts disabled, the interrupt's exit (or whoever enables them)
        // does it.
        // SAFETY: Reads the context of the current CPU only.
        let bh = unsafe { bindings::rvdpa_may_toggle_bh() };
        if bh {
            // SAFETY: Paired with `local_bh_enable` below, in the same context.
            unsafe { bindings::local_bh_disable() };
        }
        let r = {
            let slots = self.slots.lock();
            slots.get(idx).copied().flatten().map(Raw::call)
        };
        if bh {
            // SAFETY: Paired with `local_bh_disable` above; the lock is
            // released, so interrupts are on again.
            unsafe { bindings::local_bh_enable() };
        }
        r
    }

    /// Signals used buffers on virtqueue `idx`: calls its callback, if the
    /// bus driver set one, and returns what it returned.
    ///
    /// Any context may call it, a hard interrupt handler too. `None` (no
    /// callback, or `idx` out of range) does not mean the interrupt was not
    /// the device's: a bus driver that polls (a userspace driver without a
    /// call eventfd) sets none, and its device still interrupts. A handler of
    /// a vector of its own (MSI-X) answers [`IrqReturn::Handled`] then, as
    /// the C parents do; [`IrqReturn::None`] would have the IRQ core disable
    /// the vector as spurious after 100,000 of them.
    pub fn signal_vq(&self, idx: u16) -> Option<IrqReturn> {
        if idx >= self.nvqs {
            return None;
        }
        self.call(usize::from(idx))
    }

    /// Signals a config change: calls the config callback, if the bus driver
    /// set one. As [`Callbacks::signal_vq`] otherwise.
    pub fn signal_config(&self) -> Option<IrqReturn> {
        self.call(usize::from(self.nvqs))
    }

    /// Sets (or clears) the callback of slot `idx`; when this returns, the
    /// previous one is not running.
    ///
    /// # Safety
    ///
    /// `cb` must be null or point to a valid `struct vdpa_callback` given by
    /// the bus driver of the device these callbacks serve.
    unsafe fn set(&self, idx: usize, cb: *const bindings::vdpa_callback) {
        // SAFETY: As required of the caller.
        let cb = unsafe { Raw::from_raw(cb) };
        if let Some(slot) = self.slots.lock().get_mut(idx) {
            *slot = cb;
        }
    }

    /// Sets virtqueue `idx`'s callback (for the `set_vq_cb` op).
    ///
    /// # Safety
    ///
    /// As [`Callbacks::set`].
    pub(super) unsafe fn set_vq(&self, idx: u16, cb: *const bindings::vdpa_callback) {
        if idx < self.nvqs {
            // SAFETY: As required of the caller.
            unsafe { self.set(usize::from(idx), cb) };
        }
    }

    /// Sets the config callback (for the `set_config_cb` op).
    ///
    /// # Safety
    ///
    /// As [`Callbacks::set`].
    pub(super) unsafe fn set_config(&self, cb: *const bindings::vdpa_callback) {
        // SAFETY: As required of the caller.
        unsafe { self.set(usize::from(self.nvqs), cb) };
    }

    /// Clears every callback; when this returns, none is running.
    pub(super) fn clear(&self) {
        self.slots.lock().iter_mut().for_each(|s| *s = None);
    }
}
