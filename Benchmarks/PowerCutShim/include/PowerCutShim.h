#ifndef PROMO_POWER_CUT_SHIM_H
#define PROMO_POWER_CUT_SHIM_H
// Loaded with LD_PRELOAD into a process under test (docs/RELIABILITY.md, "Power cuts"); it has
// no interface to call. PROMO_POWERCUT_DIR names the folder whose files are watched and
// PROMO_POWERCUT_LOG the file that receives one line "<size> <path>" per successful fsync or
// fdatasync of a file in that folder: the size the disk is known to hold.
#endif
