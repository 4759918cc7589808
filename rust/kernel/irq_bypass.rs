// SPDX-License-Identifier: GPL-2.0

//! IRQ bypass: connecting an interrupt producer (a device's MSI-X vector
//! handed out by, for one, vhost-vdpa) with a consumer (KVM's posted
//! interrupts) that share an eventfd, so that the interrupt can reach a
//! vCPU without the host's handler.
//!
//! Producers ([`Producer`], a device driver's interrupt) and consumers
//! ([`ConsumerRegistration`]) meet on an [`EventFd`].
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

/// An IRQ bypass producer: a device interrupt that stands for the signals of
/// an eventfd, so that a consumer with the same eventfd (KVM's irqfd) can
/// deliver it without the eventfd.
///
/// Created unregistered; [`Producer::register`] connects it with a Linux IRQ,
/// [`Producer::unregister`] (or the drop) disconnects it. It holds its own
/// reference to the eventfd, its key in the bypass manager, so the key stays
/// valid while it is registered.
///
/// # Invariants
///
/// `raw.eventfd` is null or `eventfd`'s context; it is non-null exactly while
/// `raw` is registered with the bypass manager.
#[pin_data(PinnedDrop)]
pub struct Producer {
    #[pin]
    raw: Opaque<bindings::irq_bypass_producer>,
    eventfd: EventFd,
    #[pin]
    _pin: PhantomPinned,
}

// SAFETY: The C producer is only touched by the bypass manager under its lock
// and through `Pin<&mut Self>`; the eventfd reference may be used and put
// from any thread.
unsafe impl Send for Producer {}
// SAFETY: Nothing is reachable through `&Producer` but reads.
unsafe impl Sync for Producer {}

impl Producer {
    /// An unregistered producer keyed by `eventfd`.
    pub fn new(eventfd: EventFd) -> impl PinInit<Self> {
        pin_init!(Self {
            // INVARIANT: Zeroed: `eventfd` is null, not registered.
            raw: Opaque::zeroed(),
            eventfd,
            _pin: PhantomPinned,
        })
    }

    /// Whether the producer is registered.
    pub fn is_registered(&self) -> bool {
        // SAFETY: `raw` is valid; the field only changes through
        // `Pin<&mut Self>`, which excludes this shared borrow.
        !unsafe { (*self.raw.get()).eventfd }.is_null()
    }

    /// Registers the producer for Linux IRQ `irq` and connects it to the
    /// consumer of its eventfd, if there is one. Process context. `EBUSY` if
    /// it is registered already or the eventfd has another producer; a
    /// consumer's refusal is returned.
    pub fn register(self: Pin<&mut Self>, irq: u32) -> Result {
        if self.is_registered() {
            return Err(EBUSY);
        }
        let irq = i32::try_from(irq).map_err(|_| EINVAL)?;
        // SAFETY: `raw` is pinned and not registered (checked above, and
        // `Pin<&mut Self>` excludes a concurrent registration); the eventfd
        // context outlives the registration, which the drop ends at the
        // latest. INVARIANT: The manager sets `raw.eventfd` on success only.
        to_result(unsafe {
            bindings::irq_bypass_register_producer(self.raw.get(), self.eventfd.as_ptr(), irq)
        })
    }

    /// Disconnects the producer from its consumer and unregisters it; nothing
    /// if it is not registered. Process context.
    pub fn unregister(self: Pin<&mut Self>) {
        // SAFETY: `raw` is valid; the manager accepts an unregistered
        // producer and clears `raw.eventfd` (the invariant).
        unsafe { bindings::irq_bypass_unregister_producer(self.raw.get()) };
    }

    /// The eventfd the producer stands for.
    pub fn eventfd(&self) -> &EventFd {
        &self.eventfd
    }
}

#[pinned_drop]
impl PinnedDrop for Producer {
    fn drop(self: Pin<&mut Self>) {
        // The eventfd reference goes after this, with the fields.
        self.unregister();
    }
}
