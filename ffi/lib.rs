pub use efm_core;
