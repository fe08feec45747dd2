// Roofline timing on one hardware entry: t = max(FLOPs / (peak * eta_c), bytes / (bandwidth * eta_m)).
// REFERENCE.md section 4. Plain per-configuration functions (LAWFIT_HD).
#pragma once
#include "core/common.hpp"

namespace lawfit::cost {

// One accelerator, in SI units: FLOP/s for the chosen dtype (dense), bytes/s, bytes, watts, USD/hour.
struct Hardware {
  double peak_flops;     // dense peak for the compute dtype
  double bandwidth;      // HBM bytes/s
  double memory_bytes;   // HBM capacity
  double power_w;        // board power (TDP) in watts
  double price_per_hour; // USD per GPU-hour
};

// Efficiency factors and the share of board power actually drawn.
struct Efficiency {
  double compute = 0.4;      // eta_c: achieved / peak FLOP/s (MFU for training)
  double memory = 0.8;       // eta_m: achieved / peak bandwidth
  double utilisation = 0.8;  // average power draw / TDP
};

LAWFIT_HD inline double roofline_time(double flops, double bytes, const Hardware& hw, const Efficiency& e) {
  const double tc = flops / (hw.peak_flops * e.compute);
  const double tm = bytes / (hw.bandwidth * e.memory);
  return tc > tm ? tc : tm;
}

// One decode step for a batch of B sequences at context c on one device:
// max(2 N_active B / peak, (N_total bytes_w + B c kv_per_token) / BW), with efficiency factors.
LAWFIT_HD inline double decode_step_time(double flops_token, double weight_bytes, double kv_token_bytes,
                                         double batch, double context, const Hardware& hw,
                                         const Efficiency& e) {
  return roofline_time(flops_token * batch, weight_bytes + batch * context * kv_token_bytes, hw, e);
}

}  // namespace lawfit::cost
