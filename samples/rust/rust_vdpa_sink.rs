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
    sync::{Arc, Mutex, MutexGuard},
    vdpa::{self, Callbacks, DevSetConfig, Device, MgmtRegistration, UnregisteredDevice, VqState},
    vhost::{
        iotlb::{AddressSpace, Perm},
        vringh::{Kiov, Vring},
    },
    workqueue::{self, DrainAfter, OwnedQueue, Work, WorkItem},
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
/// A net device (`VIRTIO_ID_NET`) with two queues and no attributes to set.
const ATTRS: vdpa::MgmtAttrs = vdpa::MgmtAttrs {
    device_id: 1,
    config_attrs: vdpa::ConfigAttrs::NONE,
    supported_features: FEATURES,
    max_supported_vqs: 2,
};

#[derive(Default)]
struct Queue {
    ring: Vring,
    addr: (u64, u64, u64),
    num: u32,
    ready: bool,
}

#[derive(Default)]
struct State {
    queues: [Queue; 2],
    features: u64,
    status: u8,
    frames: u64,
}

/// The device state. Kicks come in atomic context, so frames are swallowed
/// by a work item, which takes the mutex.
#[pin_data]
struct Sink {
    #[pin]
    state: Mutex<State>,
    #[pin]
    work: Work<Sink>,
    queue: Arc<OwnedQueue>,
    callbacks: Arc<Callbacks>,
}

kernel::impl_has_work! { impl HasWork<Sink> for Sink { self.work } }

impl WorkItem for Sink {
    type Pointer = Arc<Sink>;

    fn run(this: Arc<Sink>) {
        let mut guard = this.state.lock();
        let st = &mut *guard;
        let q = &mut st.queues[TXQ];
        let (mut riov, mut wiov) = (Kiov::new(), Kiov::new());
        while let (true, Ok(Some(head))) =
            (q.ready, q.ring.getdesc(&mut riov, &mut wiov, GFP_KERNEL))
        {
            st.frames += 1;
            let _ = q.ring.complete(head, 0);
        }
        drop(guard);
        // The abstraction calls the driver's callback, if it still has one.
        this.callbacks.signal_vq(TXQ as u16);
    }
}

/// The device data: the state, shared with the work item.
struct SinkDev(Arc<Sink>);

/// Every operation locks the state.
fn state(dev: &Device<SinkDev>) -> MutexGuard<'_, State> {
    dev.0.state.lock()
}

#[vtable]
impl vdpa::ConfigOps for SinkDev {
    fn set_vq_address(dev: &Device<Self>, idx: u16, d: u64, a: u64, u: u64) -> Result {
        state(dev).queues[idx as usize].addr = (d, a, u);
        Ok(())
    }

    fn set_vq_num(dev: &Device<Self>, idx: u16, num: u32) {
        state(dev).queues[idx as usize].num = num;
    }

    fn kick_vq(dev: &Device<Self>, idx: u16) {
        if idx as usize == TXQ {
            // Already queued is fine: that run takes the new frames too.
            let _ = dev.0.queue.enqueue(dev.0.clone());
        }
    }

    fn set_vq_ready(dev: &Device<Self>, idx: u16, ready: bool) {
        let mut st = state(dev);
        let features = st.features;
        let q = &mut st.queues[idx as usize];
        let (d, a, u) = q.addr;
        q.ready = ready && q.ring.init(features, q.num, d, a, u).is_ok();
    }

    fn get_vq_ready(dev: &Device<Self>, idx: u16) -> bool {
        state(dev).queues[idx as usize].ready
    }

    fn set_vq_state(dev: &Device<Self>, idx: u16, s: &VqState) -> Result {
        state(dev).queues[idx as usize]
            .ring
            .set_last_avail_idx(s.avail_index);
        Ok(())
    }

    fn get_vq_state(dev: &Device<Self>, idx: u16) -> Result<VqState> {
        let avail_index = state(dev).queues[idx as usize].ring.last_avail_idx();
        Ok(VqState { avail_index })
    }

    fn get_vendor_vq_stats(
        dev: &Device<Self>,
        idx: u16,
        out: &mut vdpa::VendorStats<'_>,
    ) -> Result {
        let frames = if idx as usize == TXQ {
            state(dev).frames
        } else {
            0
        };
        out.put(c"frames swallowed", frames)
    }

    fn get_device_features(_dev: &Device<Self>) -> u64 {
        FEATURES
    }

    fn set_driver_features(dev: &Device<Self>, features: u64) -> Result {
        state(dev).features = features & FEATURES;
        Ok(())
    }

    fn get_driver_features(dev: &Device<Self>) -> u64 {
        state(dev).features
    }

    fn get_vq_num_max(_dev: &Device<Self>) -> u16 {
        256
    }

    fn get_device_id(_dev: &Device<Self>) -> u32 {
        1 // VIRTIO_ID_NET
    }

    fn get_status(dev: &Device<Self>) -> u8 {
        state(dev).status
    }

    fn set_status(dev: &Device<Self>, status: u8) {
        state(dev).status = status;
    }

    fn reset(dev: &Device<Self>) -> Result {
        let mut st = state(dev);
        for q in st.queues.iter_mut() {
            q.ring.stop();
            q.ready = false;
        }
        (st.features, st.status) = (0, 0);
        Ok(())
    }

    fn get_config_size(_dev: &Device<Self>) -> usize {
        12 // mac, status, max_virtqueue_pairs, mtu: all zero
    }

    fn get_config(_dev: &Device<Self>, _offset: usize, buf: &mut [u8]) {
        buf.fill(0);
    }
}

struct SinkMgmt(Arc<OwnedQueue>);

#[vtable]
impl vdpa::MgmtDriver for SinkMgmt {
    type Device = SinkDev;

    fn dev_add(
        m: &MgmtRegistration<Self>,
        name: &CStr,
        _: &DevSetConfig,
    ) -> Result<UnregisteredDevice<SinkDev>> {
        // The device sees physical memory: it has no map ops.
        let space = AddressSpace::new(64)?;
        space.lock().add_range(0, u64::MAX, 0, Perm::RW)?;
        let mut state = State::default();
        for q in state.queues.iter_mut() {
            q.ring.set_address_space(space.clone());
        }
        let callbacks = Callbacks::new(2)?;
        let signal = callbacks.clone();
        let sink = Arc::pin_init(
            pin_init!(Sink {
                state <- kernel::new_mutex!(state),
                work <- kernel::new_work!("Sink::work"),
                queue: m.0.clone(),
                callbacks: signal,
            }),
            GFP_KERNEL,
        );
        let (nvqs, ngroups, nas, dma) = (2, 1, 1, vdpa::DmaModel::Platform);
        let opts = vdpa::Options {
            nvqs,
            ngroups,
            nas,
            dma,
            self_dma: true,
        };
        let sink = sink.map(SinkDev);
        UnregisteredDevice::new(Some(m.parent()), Some(name), opts, callbacks, sink)
    }
}

#[pin_data]
struct Registrations {
    #[pin]
    mgmt: MgmtRegistration<SinkMgmt>,
    parent: faux::Registration,
}

/// The module: dropping it removes the devices, then waits for their work.
struct SinkModule {
    _registrations: DrainAfter<Pin<KBox<Registrations>>>,
}

impl kernel::Module for SinkModule {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        let queue = OwnedQueue::new(c"rust_vdpa_sink", workqueue::flags::UNBOUND, 0)?;
        let queue = Arc::new(queue, GFP_KERNEL)?;
        let q = queue.clone();
        let regs = KBox::pin_init(
            try_pin_init!(Registrations {
                parent: faux::Registration::new(c"rust_vdpa_sink", None)?,
                mgmt <- MgmtRegistration::new(parent.as_ref(), ATTRS, Ok::<_, Error>(SinkMgmt(q))),
            }),
            GFP_KERNEL,
        )?;
        Ok(SinkModule {
            _registrations: DrainAfter::new(queue, regs),
        })
    }
}
