// SPDX-License-Identifier: GPL-2.0

//! A vDPA parent for vring-capable PCI functions: virtio-pci modern devices,
//! physical functions or SR-IOV virtual functions.
//!
//! The function's virtqueues are the vDPA device's virtqueues: the bus driver
//! (`virtio_vdpa`, or `vhost_vdpa` for a guest) places the rings, the device
//! reads them by DMA through the platform IOMMU, doorbells are the function's
//! notification registers (which `vhost_vdpa` can map into a guest), and
//! each virtqueue has its own MSI-X vector, whose IRQ `vhost_vdpa` hands to
//! the irq bypass manager so that KVM can post it straight to a vCPU.
//!
//! The driver claims no device by itself (so it never takes one from
//! `virtio_pci`): bind a function explicitly, e.g.
//! `echo vdpa_rpci > /sys/bus/pci/devices/BDF/driver_override` and a probe,
//! then `vdpa dev add name NAME mgmtdev pci/BDF`.

use kernel::{
    device::Core,
    irq::{
        self,
        IrqReturn, //
    },
    pci::{
        self,
        IrqVector, //
    },
    prelude::*,
    sync::{
        atomic::{
            Atomic,
            Relaxed, //
        },
        Arc,
        Mutex, //
    },
    vdpa::{
        self,
        status,
        Callbacks,
        ConfigAttrs,
        DevSetConfig,
        Device,
        MgmtAttrs,
        MgmtRegistration,
        NotificationArea,
        UnregisteredDevice,
        VqState, //
    },
    virtio::{
        features,
        pci::{
            MODERN_DEVICE_ID_BASE,
            TRANSITIONAL_DEVICE_IDS, //
        },
    },
};

mod modern;

use modern::{
    Doorbell,
    Transport, //
};

/// The largest queue size offered, as the C vp_vdpa does.
const QUEUE_MAX: u16 = 256;

/// An MSI-X vector's handler: it signals one queue's callback, or the
/// config callback.
struct Vector {
    callbacks: Arc<Callbacks>,
    /// The queue, or `None` for config changes.
    queue: Option<u16>,
}

impl irq::Handler for Vector {
    fn handle(&self, _dev: &kernel::device::Device<kernel::device::Bound>) -> IrqReturn {
        let r = match self.queue {
            Some(q) => self.callbacks.signal_vq(q),
            None => self.callbacks.signal_config(),
        };
        // The vector is the queue's alone, so the interrupt is ours even
        // when no callback is set (a bus driver that polls): answering
        // `None` would get the vector disabled as spurious.
        r.unwrap_or(IrqReturn::Handled)
    }
}

/// One virtqueue of the function.
struct Queue {
    doorbell: Doorbell,
    /// The Linux IRQ of the queue's MSI-X vector.
    irq: u32,
    /// The largest size of the queue (at most [`QUEUE_MAX`]; 0: the queue
    /// is not available), read after a reset at probe.
    max: u16,
}

/// The function, shared by its management device and its vDPA device.
#[pin_data]
struct Function {
    transport: Pin<KBox<Transport>>,
    queues: KVec<Queue>,
    /// The bus driver's callbacks, which the MSI-X handlers signal.
    callbacks: Arc<Callbacks>,
    device_id: u32,
    vendor_id: u32,
    /// The largest of the queues' maxima, read after a reset at probe (the
    /// register reads back what a driver set later). vhost-vdpa refuses any
    /// size above this for every queue, so it may not be smaller than a data
    /// queue's own maximum (vp_vdpa gives queue 0's); each queue's own limit
    /// is `get_vq_size`, and `set_vq_num` refuses a size beyond it.
    num_max: u16,
    /// What the function offers.
    features: u64,
    /// The [`Claim`] of the vDPA device on the function, if any (at most one
    /// exists): its number, or 0.
    #[pin]
    in_use: Mutex<u64>,
    /// The number of the next claim.
    next_claim: Atomic<u64>,
}

impl Function {
    fn nvqs(&self) -> u16 {
        self.queues.len() as u16
    }

    /// Resets the function (the vDPA abstraction forgets the bus driver's
    /// callbacks itself).
    fn reset(&self) -> Result {
        self.transport.reset()
    }

    /// Gives every queue its vector, and config changes theirs.
    fn program_vectors(&self) -> Result {
        for q in 0..self.nvqs() {
            self.transport.set_queue_vector(q, q)?;
        }
        self.transport.set_config_vector(self.nvqs())
    }
}

/// A vDPA device's hold on its function. It ends when the device is
/// deleted ([`Claim::release`] in `dev_del`) or, if it never got registered
/// (`vdpa dev add` failed after `dev_add`, e.g. on a name already taken),
/// when the device is freed. Releasing a claim that already ended does
/// nothing, so a late free cannot end a newer device's claim.
struct Claim {
    f: Arc<Function>,
    id: u64,
}

impl Claim {
    /// Claims the function, or fails with `EBUSY` if a device holds it.
    fn new(f: &Arc<Function>) -> Result<Self> {
        let mut in_use = f.in_use.lock();
        if *in_use != 0 {
            return Err(EBUSY);
        }
        // Numbers start at 1: 0 means free (2^64 claims would not wrap).
        let id = f.next_claim.fetch_add(1, Relaxed);
        *in_use = id;
        Ok(Claim { f: f.clone(), id })
    }

    /// Ends the claim, if it is still the function's.
    fn release(&self) {
        let mut in_use = self.f.in_use.lock();
        if *in_use == self.id {
            *in_use = 0;
        }
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        self.release();
    }
}

/// The vDPA device's data.
struct Vp {
    f: Arc<Function>,
    claim: Claim,
    /// The features offered (the function's, or fewer if provisioned so).
    features: u64,
    /// The status last written, to notice the DRIVER_OK transition.
    status: Atomic<u32>,
}

impl Vp {
    fn q(dev: &Device<Self>, idx: u16) -> &Queue {
        // The abstraction checks `idx < nvqs`, which is `queues.len()`.
        &dev.f.queues[usize::from(idx)]
    }
}

#[vtable]
impl vdpa::ConfigOps for Vp {
    fn set_vq_address(dev: &Device<Self>, idx: u16, desc: u64, driver: u64, device: u64) -> Result {
        dev.f.transport.set_queue_address(idx, desc, driver, device)
    }

    fn set_vq_num(dev: &Device<Self>, idx: u16, num: u32) {
        // A size beyond the queue's maximum is not the device's to take.
        let num = match u16::try_from(num) {
            Ok(n) if n <= Self::q(dev, idx).max => n,
            _ => {
                dev_err!(
                    dev.as_ref(),
                    "queue {} has at most {} entries, not {}\n",
                    idx,
                    Self::q(dev, idx).max,
                    num
                );
                return;
            }
        };
        if dev.f.transport.set_queue_size(idx, num).is_err() {
            dev_err!(dev.as_ref(), "cannot set the size of queue {}\n", idx);
        }
    }

    fn kick_vq(dev: &Device<Self>, idx: u16) {
        let _ = dev.f.transport.kick(Self::q(dev, idx).doorbell, idx);
    }

    fn kick_vq_with_data(dev: &Device<Self>, data: u32) {
        let idx = data as u16;
        if idx < dev.f.nvqs() {
            let _ = dev
                .f
                .transport
                .kick_with_data(Self::q(dev, idx).doorbell, data);
        }
    }

    fn set_vq_ready(dev: &Device<Self>, idx: u16, ready: bool) {
        // A modern function cannot disable a queue but by a reset.
        if ready && dev.f.transport.enable_queue(idx).is_err() {
            dev_err!(dev.as_ref(), "cannot enable queue {}\n", idx);
        }
    }

    fn get_vq_ready(dev: &Device<Self>, idx: u16) -> bool {
        dev.f.transport.queue_enabled(idx).unwrap_or(false)
    }

    fn set_vq_state(dev: &Device<Self>, idx: u16, state: &VqState) -> Result {
        // virtio-pci has no way to set a queue's indices: only the state a
        // fresh queue has anyway is accepted, as in the C vp_vdpa.
        let t = &dev.f.transport;
        if t.status() & status::FEATURES_OK != 0 && !t.queue_enabled(idx)? && state.avail_index == 0
        {
            return Ok(());
        }
        Err(EOPNOTSUPP)
    }

    fn get_vq_state(_dev: &Device<Self>, _idx: u16) -> Result<VqState> {
        // Not readable through virtio-pci.
        Err(EOPNOTSUPP)
    }

    fn get_vq_notification(dev: &Device<Self>, idx: u16) -> NotificationArea {
        NotificationArea {
            addr: Self::q(dev, idx).doorbell.phys,
            size: Self::q(dev, idx).doorbell.size as u64,
        }
    }

    fn get_vq_irq(dev: &Device<Self>, idx: u16) -> Result<u32> {
        Ok(Self::q(dev, idx).irq)
    }

    fn get_vq_size(dev: &Device<Self>, idx: u16) -> u16 {
        Self::q(dev, idx).max
    }

    fn get_device_features(dev: &Device<Self>) -> u64 {
        dev.features
    }

    fn set_driver_features(dev: &Device<Self>, features: u64) -> Result {
        dev.f.transport.set_driver_features(features & dev.features)
    }

    fn get_driver_features(dev: &Device<Self>) -> u64 {
        dev.f.transport.driver_features().unwrap_or(0)
    }

    fn get_vq_num_max(dev: &Device<Self>) -> u16 {
        dev.f.num_max
    }

    fn get_device_id(dev: &Device<Self>) -> u32 {
        dev.f.device_id
    }

    fn get_vendor_id(dev: &Device<Self>) -> u32 {
        dev.f.vendor_id
    }

    fn get_status(dev: &Device<Self>) -> u8 {
        dev.f.transport.status()
    }

    fn set_status(dev: &Device<Self>, s: u8) {
        let old = dev.status.xchg(u32::from(s), Relaxed);
        if s & status::DRIVER_OK != 0 && old & u32::from(status::DRIVER_OK) == 0 {
            if let Err(e) = dev.f.program_vectors() {
                dev_err!(
                    dev.as_ref(),
                    "the function refused its MSI-X vectors ({:?})\n",
                    e
                );
                let failed = s & !status::DRIVER_OK | status::FAILED;
                // The cached status must be what the function has, or the
                // next DRIVER_OK would not program the vectors again.
                dev.status.store(u32::from(failed), Relaxed);
                let _ = dev.f.transport.set_status(failed);
                return;
            }
        }
        if dev.f.transport.set_status(s).is_err() {
            dev_err!(
                dev.as_ref(),
                "cannot write the status: the function is gone\n"
            );
        }
    }

    fn reset(dev: &Device<Self>) -> Result {
        dev.status.store(0, Relaxed);
        dev.f.reset().inspect_err(|e| {
            dev_err!(dev.as_ref(), "the function did not reset ({:?})\n", e);
        })
    }

    fn get_config_size(dev: &Device<Self>) -> usize {
        dev.f.transport.config_len()
    }

    fn get_config(dev: &Device<Self>, offset: usize, buf: &mut [u8]) {
        if dev.f.transport.read_config(offset, buf).is_err() {
            buf.fill(0xff);
        }
    }

    fn set_config(dev: &Device<Self>, offset: usize, buf: &[u8]) {
        let _ = dev.f.transport.write_config(offset, buf);
    }

    fn get_generation(dev: &Device<Self>) -> u32 {
        dev.f.transport.generation().map_or(0, u32::from)
    }
}

/// The management device of one function.
struct Mgmt {
    f: Arc<Function>,
}

#[vtable]
impl vdpa::MgmtDriver for Mgmt {
    type Device = Vp;

    fn dev_add(
        mgmt: &MgmtRegistration<Self>,
        name: &CStr,
        config: &DevSetConfig,
    ) -> Result<UnregisteredDevice<Vp>> {
        let f = &mgmt.f;
        let features = match config.device_features {
            Some(want) if want & !f.features != 0 => {
                dev_err!(
                    mgmt.parent(),
                    "features {:#x} are not offered by the function ({:#x})\n",
                    want,
                    f.features
                );
                return Err(EINVAL);
            }
            Some(want) => want,
            None => f.features,
        };
        let claim = Claim::new(f)?;
        // A fresh device starts from a reset function.
        f.reset()?;
        let opts = vdpa::Options {
            nvqs: u32::from(f.nvqs()),
            ngroups: 1,
            nas: 1,
            dma: vdpa::DmaModel::Platform,
            self_dma: false,
        };
        let vp = Vp {
            f: f.clone(),
            claim,
            features,
            status: Atomic::new(0),
        };
        // If the registration fails, the device is freed and its claim ends.
        let callbacks = f.callbacks.clone();
        UnregisteredDevice::new(
            Some(mgmt.parent()),
            Some(name),
            opts,
            callbacks,
            Ok::<_, Error>(vp),
        )
    }

    fn dev_del(mgmt: &MgmtRegistration<Self>, dev: &Device<Vp>) {
        // The device is unregistered: its bus driver has reset it and is gone.
        let _ = mgmt.f.reset();
        dev.claim.release();
    }
}

/// What the driver keeps of a bound function. The management device goes
/// first (removing the vDPA device and resetting the function), then the
/// interrupt handlers.
#[pin_data]
struct BoundFunction {
    #[pin]
    mgmt: MgmtRegistration<Mgmt>,
    irqs: KVec<Pin<KBox<irq::Registration<Vector>>>>,
}

struct Driver;

kernel::pci_device_table!(
    PCI_TABLE,
    MODULE_PCI_TABLE,
    <Driver as pci::Driver>::IdInfo,
    // Matches no function (0xffff is not a valid device id): the PCI core
    // needs an entry for the driver's id data, and binding is explicit
    // (driver_override or new_id) so that no function is taken from
    // virtio_pci behind the administrator's back.
    [(
        pci::DeviceId::from_id(pci::Vendor::REDHAT_QUMRANET, 0xffff),
        ()
    )]
);

impl pci::Driver for Driver {
    type IdInfo = ();
    type Data<'bound> = BoundFunction;

    const ID_TABLE: pci::IdTable<Self::IdInfo> = &PCI_TABLE;
    // A physical function's virtual functions are enabled through its
    // `sriov_numvfs`; each, bound to this driver, gets its own management
    // device. Unbinding the physical function leaves them enabled: in 7.2,
    // removing them needs the PCI rescan/remove lock, which the unbind
    // paths (rmmod, sysfs unbind) do not hold and the removal path already
    // does, and a driver cannot tell the two apart. Disabling them takes
    // `echo 0 > sriov_numvfs` under the next driver.
    const SRIOV: bool = true;

    fn probe<'bound>(
        pdev: &'bound pci::Device<Core<'_>>,
        _info: &'bound Self::IdInfo,
    ) -> impl PinInit<Self::Data<'bound>, Error> + 'bound {
        pin_init::pin_init_scope(move || {
            let dev: &kernel::device::Device = pdev.as_ref();
            if pdev.vendor_id() != pci::Vendor::REDHAT_QUMRANET {
                dev_err!(dev, "not a virtio function (vendor {})\n", pdev.vendor_id());
                return Err(ENODEV);
            }
            let device_id = match pdev.device_id() {
                id if id >= MODERN_DEVICE_ID_BASE => u32::from(id - MODERN_DEVICE_ID_BASE),
                id if TRANSITIONAL_DEVICE_IDS.contains(&id) => {
                    u32::from(pdev.subsystem_device_id())
                }
                id => {
                    dev_err!(dev, "device id {:#x} is not a virtio function\n", id);
                    return Err(ENODEV);
                }
            };
            pdev.enable_device_mem()?;
            pdev.set_master();
            let transport = KBox::pin_init(Transport::probe(pdev)?, GFP_KERNEL)?;
            transport.reset()?;
            let nvqs = transport.num_queues()?;
            if nvqs == 0 {
                dev_err!(dev, "the function has no virtqueue\n");
                return Err(ENODEV);
            }
            // Packed virtqueues are not offered: their state (two indices
            // and wrap counters) is not what `set_vq_state` understands.
            let features = transport.device_features()? & !features::RING_PACKED;
            // Each queue's maximum, while the function is fresh from reset.
            let mut maxima = KVec::with_capacity(usize::from(nvqs), GFP_KERNEL)?;
            for q in 0..nvqs {
                maxima.push(transport.queue_size(q)?.min(QUEUE_MAX), GFP_KERNEL)?;
            }
            let num_max = maxima
                .iter()
                .copied()
                .filter(|&m| m != 0)
                .max()
                .unwrap_or(QUEUE_MAX);
            // One vector per queue and one for config changes.
            let want = u32::from(nvqs) + 1;
            let msix = pci::IrqTypes::default().with(pci::IrqType::MsiX);
            let vectors = pdev.alloc_irq_vectors(want, want, msix).inspect_err(|_| {
                dev_err!(
                    dev,
                    "{} MSI-X vectors are needed (one per queue, one for config)\n",
                    want
                );
            })?;
            let mut irqs = KVec::with_capacity(usize::from(nvqs) + 1, GFP_KERNEL)?;
            let mut queues = KVec::with_capacity(usize::from(nvqs), GFP_KERNEL)?;
            let callbacks = Callbacks::new(nvqs)?;
            for v in IrqVector::all(&vectors) {
                let queue = (v.index() < u32::from(nvqs)).then_some(v.index() as u16);
                let request: irq::IrqRequest<'_> = v.try_into()?;
                let irq_no = request.irq();
                let handler = Ok::<_, Error>(Vector {
                    callbacks: callbacks.clone(),
                    queue,
                });
                let reg = KBox::pin_init(
                    pdev.request_irq(v, irq::Flags::TRIGGER_NONE, c"vdpa_rpci", handler),
                    GFP_KERNEL,
                )?;
                irqs.push(reg, GFP_KERNEL)?;
                if let Some(q) = queue {
                    queues.push(
                        Queue {
                            doorbell: transport.doorbell(q)?,
                            irq: irq_no,
                            max: maxima[usize::from(q)],
                        },
                        GFP_KERNEL,
                    )?;
                }
            }
            let f = Arc::pin_init(
                try_pin_init!(Function {
                    transport,
                    queues,
                    callbacks,
                    device_id,
                    vendor_id: u32::from(pdev.subsystem_vendor_id()),
                    num_max,
                    features,
                    in_use <- kernel::new_mutex!(0),
                    next_claim: Atomic::new(1),
                }? Error),
                GFP_KERNEL,
            )?;
            let attrs = MgmtAttrs {
                device_id,
                config_attrs: ConfigAttrs::FEATURES,
                supported_features: features,
                max_supported_vqs: u32::from(nvqs),
            };
            dev_info!(
                dev,
                "virtio device {}, {} queues, features {:#x}\n",
                device_id,
                nvqs,
                features
            );
            Ok(try_pin_init!(BoundFunction {
                mgmt <- MgmtRegistration::new(dev, attrs, Ok::<_, Error>(Mgmt { f })),
                irqs,
            }))
        })
    }
}

kernel::module_pci_driver! {
    type: Driver,
    name: "vdpa_rpci",
    authors: ["rvdpa developers"],
    description: "vDPA parent for virtio-pci modern functions, in Rust",
    license: "GPL",
}
