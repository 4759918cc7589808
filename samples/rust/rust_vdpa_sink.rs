// SPDX-License-Identifier: GPL-2.0

//! A minimal vDPA parent: a virtio-net device that swallows every frame it is
//! sent and counts them (`vdpa dev vstats show DEV qidx 1`). Nothing is ever
//! received.
//!
//! `modprobe rust_vdpa_sink`, then
//! `vdpa dev add name sink0 mgmtdev faux/rust_vdpa_sink` and bind it to
//! `virtio_vdpa` (it has no map ops and no IOMMU, so not to `vhost_vdpa`).

use kernel::{
    faux,
    prelude::*,
    sync::{Arc, Mutex},
    vdpa::{self, Callback, DevSetConfig, MgmtRegistration, UnregisteredDevice, VqState},
    vhost::{
        iotlb::{AddressSpace, Perm},
        vringh::{Kiov, Vring},
    },
    workqueue::{self, OwnedQueue, Work, WorkItem},
};

module! {
    type: SinkModule,
    name: "rust_vdpa_sink",
    authors: ["rvdpa developers"],
    description: "Minimal Rust vDPA parent: a frame sink",
    license: "GPL",
}

/// VERSION_1 | ACCESS_PLATFORM.
const FEATURES: u64 = (1 << 32) | (1 << 33);
const TXQ: usize = 1;

#[derive(Default)]
struct Queue {
    ring: Vring,
    addr: (u64, u64, u64),
    num: u32,
    ready: bool,
    cb: Option<Callback>,
}

#[derive(Default)]
struct State {
    queues: [Queue; 2],
    features: u64,
    status: u8,
    frames: u64,
}

/// The device state, shared with the work item that swallows frames: kicks
/// come in atomic context, so the frames are handled on a workqueue.
#[pin_data]
struct Shared {
    #[pin]
    state: Mutex<State>,
    #[pin]
    work: Work<Shared>,
    queue: Arc<OwnedQueue>,
}

kernel::impl_has_work! {
    impl HasWork<Shared> for Shared { self.work }
}

impl WorkItem for Shared {
    type Pointer = Arc<Shared>;

    fn run(this: Arc<Shared>) {
        let cb = {
            let mut guard = this.state.lock();
            let st = &mut *guard;
            let q = &mut st.queues[TXQ];
            if !q.ready {
                return;
            }
            let (mut riov, mut wiov) = (Kiov::new(), Kiov::new());
            while let Ok(Some(head)) = q.ring.getdesc(&mut riov, &mut wiov, GFP_KERNEL) {
                st.frames += 1;
                let _ = q.ring.complete(head, 0);
            }
            q.cb
        };
        if let Some(cb) = cb {
            cb.call();
        }
    }
}

/// The device data.
struct Sink {
    shared: Arc<Shared>,
}

impl Sink {
    fn new(queue: Arc<OwnedQueue>) -> Result<Self> {
        // The device sees physical memory until the driver maps its own.
        let space = AddressSpace::new(64)?;
        space.lock().add_range(0, u64::MAX, 0, Perm::RW)?;
        let mut state = State::default();
        for q in state.queues.iter_mut() {
            q.ring.set_address_space(space.clone());
        }
        let shared = Arc::pin_init(
            pin_init!(Shared {
                state <- kernel::new_mutex!(state),
                work <- kernel::new_work!("Sink::work"),
                queue,
            }),
            GFP_KERNEL,
        )?;
        Ok(Sink { shared })
    }
}

#[vtable]
impl vdpa::Driver for Sink {
    fn set_vq_address(dev: &vdpa::Device<Self>, idx: u16, d: u64, a: u64, u: u64) -> Result {
        dev.shared.state.lock().queues[idx as usize].addr = (d, a, u);
        Ok(())
    }

    fn set_vq_num(dev: &vdpa::Device<Self>, idx: u16, num: u32) {
        dev.shared.state.lock().queues[idx as usize].num = num;
    }

    fn kick_vq(dev: &vdpa::Device<Self>, idx: u16) {
        if idx as usize == TXQ {
            // Already queued is fine: that run takes the new frames too.
            let _ = dev.shared.queue.enqueue(dev.shared.clone());
        }
    }

    fn set_vq_cb(dev: &vdpa::Device<Self>, idx: u16, cb: Option<Callback>) {
        dev.shared.state.lock().queues[idx as usize].cb = cb;
    }

    fn set_vq_ready(dev: &vdpa::Device<Self>, idx: u16, ready: bool) {
        let mut guard = dev.shared.state.lock();
        let features = guard.features;
        let q = &mut guard.queues[idx as usize];
        let (d, a, u) = q.addr;
        q.ready = ready && q.ring.init(features, q.num, d, a, u).is_ok();
    }

    fn get_vq_ready(dev: &vdpa::Device<Self>, idx: u16) -> bool {
        dev.shared.state.lock().queues[idx as usize].ready
    }

    fn set_vq_state(dev: &vdpa::Device<Self>, idx: u16, s: &VqState) -> Result {
        dev.shared.state.lock().queues[idx as usize]
            .ring
            .set_last_avail_idx(s.avail_index);
        Ok(())
    }

    fn get_vq_state(dev: &vdpa::Device<Self>, idx: u16) -> Result<VqState> {
        let avail_index = dev.shared.state.lock().queues[idx as usize]
            .ring
            .last_avail_idx();
        Ok(VqState { avail_index })
    }

    fn get_vendor_vq_stats(
        dev: &vdpa::Device<Self>,
        idx: u16,
        out: &mut vdpa::VendorStats<'_>,
    ) -> Result {
        let frames = if idx as usize == TXQ {
            dev.shared.state.lock().frames
        } else {
            0
        };
        out.put(c"frames swallowed", frames)
    }

    fn get_vq_align(_dev: &vdpa::Device<Self>) -> u32 {
        4096
    }

    fn get_device_features(_dev: &vdpa::Device<Self>) -> u64 {
        FEATURES
    }

    fn set_driver_features(dev: &vdpa::Device<Self>, features: u64) -> Result {
        dev.shared.state.lock().features = features & FEATURES;
        Ok(())
    }

    fn get_driver_features(dev: &vdpa::Device<Self>) -> u64 {
        dev.shared.state.lock().features
    }

    fn set_config_cb(_dev: &vdpa::Device<Self>, _cb: Option<Callback>) {}

    fn get_vq_num_max(_dev: &vdpa::Device<Self>) -> u16 {
        256
    }

    fn get_device_id(_dev: &vdpa::Device<Self>) -> u32 {
        1 // VIRTIO_ID_NET
    }

    fn get_vendor_id(_dev: &vdpa::Device<Self>) -> u32 {
        0
    }

    fn get_status(dev: &vdpa::Device<Self>) -> u8 {
        dev.shared.state.lock().status
    }

    fn set_status(dev: &vdpa::Device<Self>, status: u8) {
        dev.shared.state.lock().status = status;
    }

    fn reset(dev: &vdpa::Device<Self>) -> Result {
        let mut st = dev.shared.state.lock();
        for q in st.queues.iter_mut() {
            q.ring.stop();
            (q.ready, q.cb) = (false, None);
        }
        (st.features, st.status) = (0, 0);
        Ok(())
    }

    fn get_config_size(_dev: &vdpa::Device<Self>) -> usize {
        12 // mac, status, max_virtqueue_pairs, mtu: all zero
    }

    fn get_config(_dev: &vdpa::Device<Self>, _offset: usize, buf: &mut [u8]) {
        buf.fill(0);
    }

    fn set_config(_dev: &vdpa::Device<Self>, _offset: usize, _buf: &[u8]) {}
}

struct SinkMgmt {
    queue: Arc<OwnedQueue>,
}

#[vtable]
impl vdpa::MgmtDriver for SinkMgmt {
    type Device = Sink;
    const DEVICE_ID: u32 = 1;
    const CONFIG_ATTRS: vdpa::ConfigAttrs = vdpa::ConfigAttrs::NONE;
    const SUPPORTED_FEATURES: u64 = FEATURES;
    const MAX_SUPPORTED_VQS: u32 = 2;

    fn dev_add(
        mgmt: &MgmtRegistration<Self>,
        name: &CStr,
        _config: &DevSetConfig,
    ) -> Result<UnregisteredDevice<Sink>> {
        let opts = vdpa::Options {
            nvqs: 2,
            ngroups: 1,
            nas: 1,
            dma: vdpa::DmaModel::Platform,
            self_dma: true,
        };
        UnregisteredDevice::new(
            Some(mgmt.parent()),
            Some(name),
            opts,
            Sink::new(mgmt.queue.clone()),
        )
    }
}

#[pin_data]
struct Devices {
    #[pin]
    mgmt: MgmtRegistration<SinkMgmt>,
    parent: faux::Registration,
}

struct SinkModule {
    devices: Option<Pin<KBox<Devices>>>,
    queue: Arc<OwnedQueue>,
}

impl kernel::Module for SinkModule {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        let queue = Arc::new(
            OwnedQueue::new(c"rust_vdpa_sink", workqueue::flags::UNBOUND, 0)?,
            GFP_KERNEL,
        )?;
        let q = queue.clone();
        let devices = KBox::pin_init(
            try_pin_init!(Devices {
                parent: faux::Registration::new(c"rust_vdpa_sink", None)?,
                mgmt <- MgmtRegistration::new(parent.as_ref(), Ok::<_, Error>(SinkMgmt { queue: q })),
            }),
            GFP_KERNEL,
        )?;
        Ok(SinkModule {
            devices: Some(devices),
            queue,
        })
    }
}

impl Drop for SinkModule {
    fn drop(&mut self) {
        // Remove the devices, then wait for their work: none runs after unload.
        self.devices = None;
        self.queue.drain();
    }
}
