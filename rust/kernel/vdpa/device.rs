// SPDX-License-Identifier: GPL-2.0

//! A vDPA device: the C `struct vdpa_device` with the parent's data.

use super::{
    adapter::Adapter,
    BusDriver,
    Callbacks,
    ConfigOps,
    Options, //
};
use crate::{
    alloc::allocator::Kmalloc,
    bindings, device,
    error::{
        from_err_ptr,
        to_result, //
    },
    prelude::*,
    sync::{
        aref::{
            ARef,
            AlwaysRefCounted, //
        },
        atomic::{
            Atomic,
            Relaxed, //
        },
        Arc,
    },
    types::Opaque,
};
use core::{
    alloc::Layout,
    ops::Deref,
    ptr::{
        self,
        NonNull, //
    },
};

/// A vDPA device with the driver's data `T`.
///
/// The C core allocates it (the `struct vdpa_device` first) and frees it when
/// the last reference goes; the data is dropped then.
///
/// # Invariants
///
/// - `vdpa` is a valid `struct vdpa_device` allocated by `__vdpa_alloc_device`
///   with the size of `Self`, whose config ops are `Adapter::<T>`'s.
/// - `data`, `bus` and `callbacks` are initialised; `callbacks` serve this
///   device and have a slot for each of its virtqueues.
#[repr(C)]
#[pin_data]
pub struct Device<T: ConfigOps> {
    #[pin]
    vdpa: Opaque<bindings::vdpa_device>,
    /// The [`BusDriver`] of the last reset, as its raw value.
    pub(super) bus: Atomic<u32>,
    /// The bus driver's callbacks.
    pub(super) callbacks: Arc<Callbacks>,
    #[pin]
    pub(super) data: T,
}

// SAFETY: The C device may be used from any thread; `T` is `Send + Sync`.
unsafe impl<T: ConfigOps> Send for Device<T> {}
// SAFETY: As above.
unsafe impl<T: ConfigOps> Sync for Device<T> {}

// SAFETY: The device is reference counted through its `struct device`.
unsafe impl<T: ConfigOps> AlwaysRefCounted for Device<T> {
    fn inc_ref(&self) {
        // SAFETY: The existence of `&self` means the refcount is non-zero.
        unsafe { bindings::get_device(self.as_dev_raw()) };
    }

    unsafe fn dec_ref(obj: NonNull<Self>) {
        // SAFETY: The caller owns a reference; `Self` starts with the C
        // device, whose `struct device` is its first field.
        unsafe {
            bindings::put_device(ptr::addr_of_mut!(
                (*obj.as_ptr().cast::<bindings::vdpa_device>()).dev
            ))
        }
    }
}

impl<T: ConfigOps> Deref for Device<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.data
    }
}

/// A device that is created but not registered on the vDPA bus yet; a
/// management device's [`MgmtDriver::dev_add`](super::MgmtDriver::dev_add) returns it to be registered.
pub struct UnregisteredDevice<T: ConfigOps> {
    pub(super) dev: ARef<Device<T>>,
    pub(super) nvqs: u32,
}

impl<T: ConfigOps> Deref for UnregisteredDevice<T> {
    type Target = Device<T>;

    fn deref(&self) -> &Device<T> {
        &self.dev
    }
}

impl<T: ConfigOps> UnregisteredDevice<T> {
    /// Creates a vDPA device named `name` (or `vdpaN`) with the driver's data,
    /// whose bus driver's callbacks go in `callbacks`.
    ///
    /// Fails with `EINVAL` if the driver does not implement the map ops that
    /// `opts.dma` needs, or if `callbacks` are not for `opts.nvqs` queues.
    ///
    /// # Examples
    ///
    /// A device whose ops do nothing, created and dropped without being
    /// registered: the ops table is built, and the release path frees the
    /// device and its data.
    ///
    /// ```
    /// use kernel::{
    ///     vdpa::{self, Callbacks, ConfigOps, Device, UnregisteredDevice, VqState},
    ///     virtio,
    /// };
    ///
    /// struct Nop;
    ///
    /// #[vtable]
    /// impl ConfigOps for Nop {
    ///     fn set_vq_address(_: &Device<Self>, _: u16, _: u64, _: u64, _: u64) -> Result {
    ///         Ok(())
    ///     }
    ///     fn set_vq_num(_: &Device<Self>, _: u16, _: u32) {}
    ///     fn kick_vq(_: &Device<Self>, _: u16) {}
    ///     fn set_vq_ready(_: &Device<Self>, _: u16, _: bool) {}
    ///     fn get_vq_ready(_: &Device<Self>, _: u16) -> bool {
    ///         false
    ///     }
    ///     fn set_vq_state(_: &Device<Self>, _: u16, _: &VqState) -> Result {
    ///         Ok(())
    ///     }
    ///     fn get_vq_state(_: &Device<Self>, _: u16) -> Result<VqState> {
    ///         Ok(VqState::default())
    ///     }
    ///     fn get_device_features(_: &Device<Self>) -> u64 {
    ///         virtio::features::VERSION_1
    ///     }
    ///     fn set_driver_features(_: &Device<Self>, _: u64) -> Result {
    ///         Ok(())
    ///     }
    ///     fn get_driver_features(_: &Device<Self>) -> u64 {
    ///         0
    ///     }
    ///     fn get_vq_num_max(_: &Device<Self>) -> u16 {
    ///         64
    ///     }
    ///     fn get_device_id(_: &Device<Self>) -> u32 {
    ///         virtio::id::NET
    ///     }
    ///     fn get_status(_: &Device<Self>) -> u8 {
    ///         0
    ///     }
    ///     fn set_status(_: &Device<Self>, _: u8) {}
    ///     fn reset(_: &Device<Self>) -> Result {
    ///         Ok(())
    ///     }
    ///     fn get_config_size(_: &Device<Self>) -> usize {
    ///         0
    ///     }
    ///     fn get_config(_: &Device<Self>, _: usize, _: &mut [u8]) {}
    /// }
    ///
    /// let opts = vdpa::Options {
    ///     nvqs: 2,
    ///     ngroups: 1,
    ///     nas: 1,
    ///     dma: vdpa::DmaModel::Platform,
    ///     self_dma: true,
    /// };
    /// let name = Some(c"rust-doctest");
    /// let nop = || Ok::<_, Error>(Nop);
    /// let dev = UnregisteredDevice::new(None, name, opts, Callbacks::new(2)?, nop())?;
    /// assert_eq!(dev.nvqs(), 2);
    /// assert_eq!(dev.name(), c"rust-doctest");
    /// // The callbacks must be for as many queues as the device has.
    /// let three = Callbacks::new(3)?;
    /// assert!(UnregisteredDevice::new(None, None, opts, three, nop()).is_err());
    /// // A device that maps through the IOMMU has no map ops to offer.
    /// let batch = vdpa::Options { dma: vdpa::DmaModel::Batch, ..opts };
    /// assert!(UnregisteredDevice::new(None, None, batch, Callbacks::new(2)?, nop()).is_err());
    /// drop(dev);
    /// # Ok::<(), Error>(())
    /// ```
    pub fn new(
        parent: Option<&device::Device>,
        name: Option<&CStr>,
        opts: Options,
        callbacks: Arc<Callbacks>,
        data: impl PinInit<T, Error>,
    ) -> Result<Self> {
        let ops = Adapter::<T>::vtable(opts.dma).ok_or(EINVAL)?;
        if opts.nvqs == 0
            || opts.nvqs != u32::from(callbacks.nvqs())
            || opts.ngroups == 0
            || opts.nas == 0
        {
            return Err(EINVAL);
        }
        // Until the Rust fields are initialised, the device has no `free`:
        // dropping it then only frees the memory (as `drm::Device` does).
        let init_ops = bindings::vdpa_config_ops { free: None, ..*ops };
        // `__vdpa_alloc_device` uses `kzalloc()`; make sure the layout suits it.
        let layout = Kmalloc::aligned_layout(Layout::new::<Device<T>>());

        // SAFETY: `init_ops` outlives every use of it (it is replaced below,
        // or the device is gone, before this returns); `parent` and `name` are valid for the
        // call (the name is copied). The C struct is at offset 0 of `Self`.
        let raw = unsafe {
            bindings::__vdpa_alloc_device(
                parent.map_or(ptr::null_mut(), |p| p.as_raw()),
                &init_ops,
                ptr::null(),
                opts.ngroups,
                opts.nas,
                layout.size(),
                name.map_or(ptr::null(), |n| n.as_char_ptr()),
                false,
            )
        };
        let raw = from_err_ptr(raw)?.cast::<Device<T>>();
        // SAFETY: The allocation succeeded and holds one reference, which
        // `dev` owns from here on. Until `data` is initialised the ops have
        // no `free`, so dropping it only frees the memory.
        let dev: ARef<Device<T>> = unsafe { ARef::from_raw(NonNull::new_unchecked(raw)) };

        // SAFETY: `raw` is valid and the field is not initialised yet; an
        // atomic needs no drop.
        unsafe { ptr::addr_of_mut!((*raw).bus).write(Atomic::new(BusDriver::None.to_raw())) };
        // SAFETY: `raw` is valid and the field is not initialised yet.
        unsafe { ptr::addr_of_mut!((*raw).callbacks).write(callbacks) };
        // SAFETY: `raw` is valid; the data field is not initialised yet and
        // is not moved until the device is freed.
        unsafe { data.__pinned_init(ptr::addr_of_mut!((*raw).data)) }.inspect_err(|_| {
            // SAFETY: Initialised above; the device has no `free` yet.
            unsafe { ptr::drop_in_place(ptr::addr_of_mut!((*raw).callbacks)) };
        })?;

        let vdpa = dev.as_raw();
        // SAFETY: The device is private to this function until it is
        // registered; the data is initialised, so `free` may drop it.
        unsafe {
            (*vdpa).config = ops;
            // Registration sets it again; set now, `nvqs()` is right before.
            (*vdpa).nvqs = opts.nvqs;
            if opts.self_dma {
                let d = ptr::addr_of_mut!((*vdpa).dev);
                (*d).dma_mask = ptr::addr_of_mut!((*d).coherent_dma_mask);
                to_result(bindings::dma_set_mask_and_coherent(d, u64::MAX))?;
                (*vdpa).vmap.dma_dev = d;
            } else if let Some(p) = parent {
                (*vdpa).vmap.dma_dev = p.as_raw();
            }
        }
        // INVARIANT: Allocated with the size of `Device<T>`, ops set, fields
        // initialised; `nvqs` is the callbacks' (checked above).
        Ok(UnregisteredDevice {
            dev,
            nvqs: opts.nvqs,
        })
    }
}

impl<T: ConfigOps> Device<T> {
    /// Returns the C device.
    pub fn as_raw(&self) -> *mut bindings::vdpa_device {
        self.vdpa.get()
    }

    fn as_dev_raw(&self) -> *mut bindings::device {
        // SAFETY: The C device is valid by the type invariants.
        unsafe { ptr::addr_of_mut!((*self.as_raw()).dev) }
    }

    /// Returns the device name (as in `vdpa dev show`).
    pub fn name(&self) -> &CStr {
        self.as_ref().name()
    }

    /// Returns the number of virtqueues (0 before registration).
    pub fn nvqs(&self) -> u32 {
        // SAFETY: The C device is valid; `nvqs` is set once at registration.
        unsafe { (*self.as_raw()).nvqs }
    }

    /// Returns the number of address spaces.
    pub fn nas(&self) -> u32 {
        // SAFETY: The C device is valid; `nas` is set at allocation.
        unsafe { (*self.as_raw()).nas }
    }

    /// Returns the number of virtqueue groups.
    pub fn ngroups(&self) -> u32 {
        // SAFETY: The C device is valid; `ngroups` is set at allocation.
        unsafe { (*self.as_raw()).ngroups }
    }

    /// Returns the bus driver that last reset the device ([`BusDriver::None`]
    /// before the first reset). In [`ConfigOps::reset`] and
    /// [`ConfigOps::compat_reset`] it is the bus driver asking for this reset.
    pub fn bus_driver(&self) -> BusDriver {
        BusDriver::from_raw(self.bus.load(Relaxed))
    }

    /// Returns the bus driver's callbacks, to signal it.
    pub fn callbacks(&self) -> &Callbacks {
        &self.callbacks
    }

    /// # Safety
    ///
    /// `ptr` must be a valid vDPA device created by [`UnregisteredDevice::new`] for `T`,
    /// for the lifetime `'a`.
    pub(super) unsafe fn from_raw<'a>(ptr: *const bindings::vdpa_device) -> &'a Self {
        // SAFETY: The C struct is at offset 0 of `Self` (`#[repr(C)]`, first
        // field) and the caller guarantees validity.
        unsafe { &*ptr.cast::<Self>() }
    }
}

impl<T: ConfigOps> AsRef<device::Device> for Device<T> {
    fn as_ref(&self) -> &device::Device {
        // SAFETY: The device is valid as long as `self` is.
        unsafe { device::Device::from_raw(self.as_dev_raw()) }
    }
}
