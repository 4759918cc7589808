// SPDX-License-Identifier: GPL-2.0

//! A kernel spinlock that disables local interrupts while it is held.
//!
//! This module exposes `spin_lock_irqsave()`/`spin_unlock_irqrestore()`: data
//! shared with a hard interrupt handler, or with code that may run in one,
//! goes under it.

/// Creates a [`SpinLockIrq`] initialiser with the given name and a newly-created lock class.
///
/// It uses the name if one is given, otherwise it generates one based on the file name and line
/// number.
#[macro_export]
macro_rules! new_spinlock_irq {
    ($inner:expr $(, $name:literal)? $(,)?) => {
        $crate::sync::SpinLockIrq::new(
            $inner, $crate::optional_name!($($name)?), $crate::static_lock_class!())
    };
}
pub use new_spinlock_irq;

/// A spinlock taken with local interrupts disabled.
///
/// Exposes the kernel's [`spinlock_t`] through `spin_lock_irqsave()`: while the guard lives, the
/// lock is held and interrupts are disabled on the local CPU; dropping the guard restores the
/// interrupt state that was saved when it was taken. It may be taken in any context, including a
/// hard interrupt handler, and guards data such a handler shares with process context.
///
/// As with `spin_lock_irqsave()` in C, guards of several such locks are released in the reverse
/// order of their acquisition (the guard is not [`Send`], and scoping makes that the natural
/// order).
///
/// # Examples
///
/// ```
/// use kernel::sync::{new_spinlock_irq, Arc, SpinLockIrq};
///
/// struct Counter {
///     hits: u64,
/// }
///
/// let c = Arc::pin_init(new_spinlock_irq!(Counter { hits: 0 }, "Counter"), GFP_KERNEL)?;
/// c.lock().hits += 1;
/// assert_eq!(c.lock().hits, 1);
/// # Ok::<(), Error>(())
/// ```
///
/// [`spinlock_t`]: srctree/include/linux/spinlock.h
pub type SpinLockIrq<T> = super::Lock<T, SpinLockIrqBackend>;

/// A kernel `spinlock_t` lock backend that saves and disables local interrupts.
pub struct SpinLockIrqBackend;

/// A [`Guard`] acquired from locking a [`SpinLockIrq`].
///
/// [`Guard`]: super::Guard
pub type SpinLockIrqGuard<'a, T> = super::Guard<'a, T, SpinLockIrqBackend>;

// SAFETY: The underlying kernel `spinlock_t` object ensures mutual exclusion. `relock` uses the
// default implementation, which takes the lock the same way and saves the interrupt state anew.
unsafe impl super::Backend for SpinLockIrqBackend {
    type State = bindings::spinlock_t;
    /// The interrupt state saved by `spin_lock_irqsave()`.
    type GuardState = crate::ffi::c_ulong;

    #[inline]
    unsafe fn init(
        ptr: *mut Self::State,
        name: *const crate::ffi::c_char,
        key: *mut bindings::lock_class_key,
    ) {
        // SAFETY: The safety requirements ensure that `ptr` is valid for writes, and `name` and
        // `key` are valid for read indefinitely.
        unsafe { bindings::__spin_lock_init(ptr, name, key) }
    }

    #[inline]
    unsafe fn lock(ptr: *mut Self::State) -> Self::GuardState {
        // SAFETY: The safety requirements of this function ensure that `ptr` points to valid
        // memory, and that it has been initialised before.
        unsafe { bindings::spin_lock_irqsave(ptr) }
    }

    #[inline]
    unsafe fn unlock(ptr: *mut Self::State, guard_state: &Self::GuardState) {
        // SAFETY: The safety requirements of this function ensure that `ptr` is valid and that the
        // caller is the owner of the spinlock; `guard_state` is what locking it saved.
        unsafe { bindings::spin_unlock_irqrestore(ptr, *guard_state) }
    }

    #[inline]
    unsafe fn try_lock(ptr: *mut Self::State) -> Option<Self::GuardState> {
        let mut flags = 0;
        // SAFETY: The `ptr` pointer is guaranteed to be valid and initialized before use; `flags`
        // is valid for writes.
        let result = unsafe { bindings::spin_trylock_irqsave(ptr, &mut flags) };

        if result != 0 {
            Some(flags)
        } else {
            None
        }
    }

    #[inline]
    unsafe fn assert_is_held(ptr: *mut Self::State) {
        // SAFETY: The `ptr` pointer is guaranteed to be valid and initialized before use.
        unsafe { bindings::spin_assert_is_held(ptr) }
    }
}
