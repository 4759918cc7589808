// SPDX-License-Identifier: GPL-2.0

//! IRQ bypass: connecting an interrupt producer (a device's MSI-X vector
//! handed out by, for one, vhost-vdpa) with a consumer (KVM's posted
//! interrupts) that share an eventfd, so that the interrupt can reach a
//! vCPU without the host's handler.
//!
//! This module has the consumer side; producers and consumers meet on an
//! [`EventFd`].
//!
//! C header: [`include/linux/irqbypass.h`](srctree/include/linux/irqbypass.h)

use crate::{bindings, error::to_result, eventfd::EventFd, prelude::*, types::Opaque};
use core::marker::PhantomPinned;

/// What a consumer does when a producer with the same eventfd comes and goes.
pub trait Consumer: Send + Sync {
    /// A producer whose interrupt is Linux IRQ `irq` was connected. An error
    /// refuses the connection.
    fn add_producer(&self, irq: u32) -> Result;

    /// The producer of Linux IRQ `irq` was disconnected.
    fn del_producer(&self, irq: u32);
}

/// A registered IRQ bypass consumer with the data `T`.
///
/// # Invariants
///
/// `raw` is registered with the IRQ bypass manager from initialisation to
/// drop, on the context `eventfd` holds a reference to.
#[pin_data(PinnedDrop)]
pub struct ConsumerRegistration<T: Consumer> {
    #[pin]
    raw: Opaque<bindings::irq_bypass_consumer>,
    eventfd: EventFd,
    data: T,
    #[pin]
    _pin: PhantomPinned,
}

// SAFETY: The C consumer is only touched by the bypass manager under its
// lock; `T` is `Send + Sync`.
unsafe impl<T: Consumer> Send for ConsumerRegistration<T> {}
// SAFETY: As above.
unsafe impl<T: Consumer> Sync for ConsumerRegistration<T> {}

impl<T: Consumer> ConsumerRegistration<T> {
    /// Registers `data` as a consumer for the producers of `eventfd`. Fails
    /// with `EBUSY` if another consumer has that eventfd.
    pub fn new(eventfd: EventFd, data: T) -> impl PinInit<Self, Error> {
        try_pin_init!(&this in Self {
            eventfd,
            data,
            raw <- Opaque::try_ffi_init(move |slot: *mut bindings::irq_bypass_consumer| {
                // SAFETY: `slot` is valid for writes; `this` is pinned, so the
                // consumer stays where the manager saw it until `drop`
                // unregisters it. `eventfd` is initialised (it comes first)
                // and lives as long as the registration.
                unsafe {
                    slot.write(bindings::irq_bypass_consumer {
                        add_producer: Some(Self::add_producer_cb),
                        del_producer: Some(Self::del_producer_cb),
                        ..pin_init::zeroed()
                    });
                    let ctx = (*this.as_ptr()).eventfd.as_ptr();
                    to_result(bindings::irq_bypass_register_consumer(slot, ctx))
                }
            }),
            _pin: PhantomPinned,
        })
    }

    /// Returns the consumer's data.
    pub fn data(&self) -> &T {
        &self.data
    }

    /// # Safety
    ///
    /// `cons` must be the `raw` field of a live `ConsumerRegistration<T>`.
    unsafe fn from_raw<'a>(cons: *mut bindings::irq_bypass_consumer) -> &'a Self {
        // SAFETY: By the safety requirements.
        unsafe { &*crate::container_of!(Opaque::cast_from(cons).cast_mut(), Self, raw) }
    }

    /// # Safety
    ///
    /// Called by the bypass manager with a registered consumer and producer.
    unsafe extern "C" fn add_producer_cb(
        cons: *mut bindings::irq_bypass_consumer,
        prod: *mut bindings::irq_bypass_producer,
    ) -> c_int {
        // SAFETY: The manager passes our registered consumer and a valid
        // producer.
        let (this, irq) = unsafe { (Self::from_raw(cons), (*prod).irq) };
        match u32::try_from(irq) {
            Ok(irq) => match this.data.add_producer(irq) {
                Ok(()) => 0,
                Err(e) => e.to_errno(),
            },
            Err(_) => EINVAL.to_errno(),
        }
    }

    /// # Safety
    ///
    /// Called by the bypass manager with a registered consumer and producer.
    unsafe extern "C" fn del_producer_cb(
        cons: *mut bindings::irq_bypass_consumer,
        prod: *mut bindings::irq_bypass_producer,
    ) {
        // SAFETY: As in `add_producer_cb`.
        let (this, irq) = unsafe { (Self::from_raw(cons), (*prod).irq) };
        if let Ok(irq) = u32::try_from(irq) {
            this.data.del_producer(irq);
        }
    }
}

#[pinned_drop]
impl<T: Consumer> PinnedDrop for ConsumerRegistration<T> {
    fn drop(self: Pin<&mut Self>) {
        // SAFETY: Registered since initialisation (type invariants); after
        // this the manager no longer calls it.
        unsafe { bindings::irq_bypass_unregister_consumer(self.raw.get()) };
    }
}
