// SPDX-License-Identifier: GPL-2.0

//! VFIO mediated devices (mdev).
//!
//! A driver registers an mdev driver ([`DriverRegistration`]), then one
//! [`Parent`] per device it can carve mediated devices from. A parent offers
//! types; writing a UUID to `mdev_supported_types/<driver>-<type>/create`
//! makes an mdev and binds it to the parent's driver ([`Driver::probe`]), which
//! usually creates a VFIO device ([`crate::vfio`]). Writing 1 to the mdev's
//! `remove`, or dropping the parent, removes it ([`Driver::remove`]).
//!
//! C header: [`include/linux/mdev.h`](srctree/include/linux/mdev.h)

use crate::{
    bindings,
    container_of,
    device,
    error::{
        from_result,
        to_result, //
    },
    prelude::*,
    str::CString,
    sync::Arc,
    types::Opaque,
    ThisModule, //
};
use core::{
    marker::PhantomData,
    mem::offset_of,
    pin::Pin, //
};

/// An mdev driver.
pub trait Driver: Send + Sync + 'static {
    /// The device API the types of this driver's parents offer (the
    /// `device_api` sysfs attribute), e.g. `c"vfio-pci"`.
    const DEVICE_API: &'static CStr;

    /// How many mdevs one parent can have at once, all types together. The
    /// mdev core counts them: `available_instances` is this minus the
    /// parent's mdevs, and `create` fails with `EUSERS` at zero.
    const MAX_INSTANCES: u32;

    /// The data of a parent ([`Parent::new`]), shared by its mdevs.
    type ParentData: Send + Sync;

    /// The driver's data of a bound mdev.
    type Data<'bound>: Send + 'bound;

    /// An mdev of type `type_index` (an index into the types given to
    /// [`Parent::new`]) was created on the parent whose data is `parent`.
    /// Process context, with the mdev's device lock held.
    fn probe<'bound>(
        mdev: &'bound Device<device::Core<'_>>,
        parent: &'bound Self::ParentData,
        type_index: usize,
    ) -> impl PinInit<Self::Data<'bound>, Error> + 'bound;

    /// The mdev is being removed (its `remove` attribute, or its parent's
    /// unregistration). May sleep; `data` is dropped right after.
    fn remove<'bound>(mdev: &'bound Device<device::Core<'_>>, data: Pin<&Self::Data<'bound>>) {
        let _ = (mdev, data);
    }
}

/// A mediated device.
///
/// # Invariants
///
/// A [`Device`] instance represents a valid `struct mdev_device` created by
/// the mdev core.
#[repr(transparent)]
pub struct Device<Ctx: device::DeviceContext = device::Normal>(
    Opaque<bindings::mdev_device>,
    PhantomData<Ctx>,
);

impl<Ctx: device::DeviceContext> Device<Ctx> {
    fn as_raw(&self) -> *mut bindings::mdev_device {
        self.0.get()
    }

    /// The mdev's UUID.
    pub fn uuid(&self) -> [u8; 16] {
        // SAFETY: By the type invariant the mdev is valid; its UUID is set
        // before it is added and never changes.
        unsafe { (*self.as_raw()).uuid.b }
    }
}

// SAFETY: `Device` is a transparent wrapper of a type that doesn't depend on
// `Device`'s generic argument.
kernel::impl_device_context_deref!(unsafe { Device });

impl<Ctx: device::DeviceContext> AsRef<device::Device<Ctx>> for Device<Ctx> {
    fn as_ref(&self) -> &device::Device<Ctx> {
        // SAFETY: By the type invariant of `Self`, `self.as_raw()` is a
        // valid `struct mdev_device`.
        let dev = unsafe { &raw mut (*self.as_raw()).dev };
        // SAFETY: `dev` points to a valid `struct device`.
        unsafe { device::Device::from_raw(dev) }
    }
}

/// The registration of an mdev driver.
///
/// # Invariants
///
/// `reg` is a registered `struct mdev_driver` whose callbacks are those of
/// `T`.
#[pin_data(PinnedDrop)]
pub struct DriverRegistration<T: Driver> {
    #[pin]
    reg: Opaque<bindings::mdev_driver>,
    _p: PhantomData<T>,
}

// SAFETY: Nothing can be done through a shared reference but reading the
// address of `reg`; registration and unregistration may run on any thread.
unsafe impl<T: Driver> Sync for DriverRegistration<T> {}
// SAFETY: As above.
unsafe impl<T: Driver> Send for DriverRegistration<T> {}

impl<T: Driver> DriverRegistration<T> {
    /// Registers an mdev driver called `name`, owned by `module` (the VFIO
    /// core holds that module while an mdev's VFIO device is open).
    pub fn new(name: &'static CStr, module: &'static ThisModule) -> impl PinInit<Self, Error> {
        try_pin_init!(Self {
            reg <- Opaque::try_ffi_init(|ptr: *mut bindings::mdev_driver| {
                // SAFETY: `try_ffi_init` gives memory valid for writes.
                unsafe {
                    ptr.write(bindings::mdev_driver::default());
                    (*ptr).device_api = T::DEVICE_API.as_char_ptr();
                    (*ptr).max_instances = T::MAX_INSTANCES;
                    (*ptr).probe = Some(Self::probe_callback);
                    (*ptr).remove = Some(Self::remove_callback);
                    (*ptr).driver.name = name.as_char_ptr();
                    (*ptr).driver.owner = module.0;
                }
                // SAFETY: `ptr` is initialised and pinned until
                // `mdev_unregister_driver` in `drop`.
                to_result(unsafe { bindings::mdev_register_driver(ptr) })
            }),
            _p: PhantomData,
        })
    }

    /// # Safety
    ///
    /// Called by the mdev bus with an mdev of a [`Parent<T>`].
    unsafe extern "C" fn probe_callback(mdev: *mut bindings::mdev_device) -> c_int {
        // SAFETY: The mdev is valid for the duration of the call, with its
        // device lock held.
        let m = unsafe { &*mdev.cast::<Device<device::CoreInternal<'_>>>() };
        // SAFETY: Only `create` binds this driver (the mdev bus matches
        // nothing by itself), and only on parents registered with it, all of
        // them `Parent<T>`s; the parent outlives its mdevs.
        let (inner, index) = unsafe { ParentInner::<T::ParentData>::of_mdev(mdev) };
        from_result(|| {
            let data = T::probe(m, &inner.data, index);
            m.as_ref().set_drvdata(data)?;
            Ok(0)
        })
    }

    /// # Safety
    ///
    /// Called by the mdev bus with an mdev bound by `probe_callback`.
    unsafe extern "C" fn remove_callback(mdev: *mut bindings::mdev_device) {
        // SAFETY: The mdev is valid for the duration of the call.
        let m = unsafe { &*mdev.cast::<Device<device::CoreInternal<'_>>>() };
        {
            // SAFETY: `probe_callback` succeeded (else there is no remove)
            // and stored a `T::Data`.
            let data = unsafe { m.as_ref().drvdata_borrow::<T::Data<'_>>() };
            T::remove(m, data);
        }
        // SAFETY: As above; this is the last use of the data.
        drop(unsafe { m.as_ref().drvdata_obtain::<T::Data<'_>>() });
    }
}

#[pinned_drop]
impl<T: Driver> PinnedDrop for DriverRegistration<T> {
    fn drop(self: Pin<&mut Self>) {
        // SAFETY: Registered (type invariant).
        unsafe { bindings::mdev_unregister_driver(self.reg.get()) };
    }
}

/// A type a parent offers.
pub struct TypeDesc {
    /// The type's name in sysfs, after the driver's name and a dash.
    pub sysfs_name: CString,
    /// The human-readable name (the `name` attribute).
    pub pretty_name: CString,
}

/// The memory of a parent: the C parent and types and the driver's data.
///
/// # Invariants
///
/// Once registered, the C structures and `names` do not move or change
/// until `mdev_unregister_parent` returns.
struct ParentInner<P> {
    parent: Opaque<bindings::mdev_parent>,
    types: KVec<Opaque<bindings::mdev_type>>,
    type_ptrs: KVec<*mut bindings::mdev_type>,
    _names: KVec<TypeDesc>,
    data: P,
}

impl<P> ParentInner<P> {
    /// The parent of `mdev` and the index of its type.
    ///
    /// # Safety
    ///
    /// `mdev` must be valid and belong to a parent made by [`Parent::new`]
    /// with data of type `P`; the result is valid while the mdev is.
    unsafe fn of_mdev<'a>(mdev: *mut bindings::mdev_device) -> (&'a Self, usize) {
        // SAFETY: The mdev's type and its parent are set at creation and
        // outlive the mdev.
        let parent = unsafe { (*(*mdev).type_).parent };
        // SAFETY: By the safety requirements, `parent` is the `parent` field
        // of a `ParentInner<P>`.
        let inner = unsafe {
            &*container_of!(parent.cast::<Opaque<bindings::mdev_parent>>(), Self, parent)
        };
        // SAFETY: As above.
        let ty = unsafe { (*mdev).type_ };
        let index = inner.type_ptrs.iter().position(|&t| t == ty).unwrap_or(0);
        (inner, index)
    }
}

/// A registered mdev parent: a device mdevs can be created on.
///
/// # Invariants
///
/// `inner.parent` is registered with `mdev_register_parent`, with the driver
/// of a [`DriverRegistration<D>`] that outlives `self`.
pub struct Parent<D: Driver> {
    inner: KBox<ParentInner<D::ParentData>>,
    // Keeps the driver registered until the parent is unregistered.
    drv: Arc<DriverRegistration<D>>,
}

// SAFETY: The C parent is only used by the mdev core under its own locks;
// the data is `Send + Sync`.
unsafe impl<D: Driver> Send for Parent<D> {}
// SAFETY: As above.
unsafe impl<D: Driver> Sync for Parent<D> {}

impl<D: Driver> Parent<D> {
    /// Registers `dev` as an mdev parent of `drv` with `types`: each gets
    /// `mdev_supported_types/<driver of dev>-<sysfs_name>/` under `dev`.
    ///
    /// Drop the parent before `dev` is unbound: that removes its mdevs
    /// (waiting for their users) and its types.
    pub fn new(
        drv: &Arc<DriverRegistration<D>>,
        dev: &device::Device<device::Bound>,
        types: KVec<TypeDesc>,
        data: D::ParentData,
    ) -> Result<Self> {
        let n = types.len();
        let mut tys = KVec::with_capacity(n, GFP_KERNEL)?;
        for t in types.iter() {
            let ty: Opaque<bindings::mdev_type> = Opaque::zeroed();
            // SAFETY: `ty` is not shared; the strings are in `types`, which
            // lives (on the heap, never changed) as long as the parent.
            unsafe {
                (*ty.get()).sysfs_name = t.sysfs_name.as_char_ptr();
                (*ty.get()).pretty_name = t.pretty_name.as_char_ptr();
            }
            tys.push(ty, GFP_KERNEL)?;
        }
        let mut inner = KBox::new(
            ParentInner {
                parent: Opaque::zeroed(),
                types: tys,
                type_ptrs: KVec::with_capacity(n, GFP_KERNEL)?,
                _names: types,
                data,
            },
            GFP_KERNEL,
        )?;
        for i in 0..n {
            let p = inner.types[i].get();
            inner.type_ptrs.push(p, GFP_KERNEL)?;
        }
        // SAFETY: Every pointer is valid and stays so until
        // `mdev_unregister_parent` (the box is never moved out of, the
        // vectors never grow); `drv` is registered and outlives the parent;
        // `dev` is bound, and the caller drops the parent before it unbinds.
        to_result(unsafe {
            bindings::mdev_register_parent(
                inner.parent.get(),
                dev.as_raw(),
                drv.reg.get(),
                inner.type_ptrs.as_mut_ptr(),
                n as c_uint,
            )
        })?;
        // INVARIANT: Registered just above, with a driver kept registered
        // by `drv`.
        Ok(Self {
            inner,
            drv: drv.clone(),
        })
    }

    /// The parent's data.
    pub fn data(&self) -> &D::ParentData {
        &self.inner.data
    }
}

impl<D: Driver> Drop for Parent<D> {
    /// Removes the parent's mdevs (each [`Driver::remove`] runs, and may wait
    /// for the users of the mdev) and its types.
    fn drop(&mut self) {
        // SAFETY: Registered (type invariant), unregistered once here; the
        // driver is still registered (`self.drv`).
        unsafe { bindings::mdev_unregister_parent(self.inner.parent.get()) };
        let _ = &self.drv;
    }
}

const _: () = assert!(offset_of!(bindings::mdev_device, dev) == 0);
