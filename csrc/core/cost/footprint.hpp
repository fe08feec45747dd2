// Energy, CO2 and water from GPU-hours (REFERENCE.md section 4; Li et al. 2023 "Making AI Less Thirsty").
//   energy_it_kwh   = gpu_hours * power_w * utilisation / 1000          (IT / server energy, no PUE)
//   energy_kwh      = energy_it_kwh * PUE                                (facility energy, PUE applied)
//   co2_kg          = energy_kwh * grid_kg_per_kwh                       (location-based, facility energy)
//   water_l         = energy_it_kwh * (wue_onsite + PUE * wue_offsite)   (on-site cooling + off-site generation)
#pragma once
#include "core/common.hpp"

namespace lawfit::cost {

struct Site {
  double pue = 1.2;              // power usage effectiveness
  double grid_kg_per_kwh = 0.4;  // grid carbon intensity, kg CO2e per kWh
  double wue_onsite = 0.5;       // litres per kWh of IT energy, on-site cooling
  double wue_offsite = 3.1;      // litres per kWh of electricity, off-site (generation)
};

struct Footprint {
  double energy_it_kwh, energy_kwh, co2_kg, water_l;
};

LAWFIT_HD inline Footprint footprint(double gpu_hours, double power_w, double utilisation, const Site& s) {
  Footprint f;
  f.energy_it_kwh = gpu_hours * power_w * utilisation / 1000.0;
  f.energy_kwh = f.energy_it_kwh * s.pue;
  f.co2_kg = f.energy_kwh * s.grid_kg_per_kwh;
  f.water_l = f.energy_it_kwh * (s.wue_onsite + s.pue * s.wue_offsite);
  return f;
}

}  // namespace lawfit::cost
