// The public surface grows as the modules land.
export {}
