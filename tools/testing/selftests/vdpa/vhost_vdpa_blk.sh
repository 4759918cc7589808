#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# vDPA blk parents driven from userspace through vhost_vdpa, the way a VMM
# drives them (see vhost_vdpa_blk.c): the Rust simulator with each DMA model
# and the C simulator. vhost_vdpa.sh does the work for net and blk alike.
exec "$(dirname "$0")/vhost_vdpa.sh" blk
