package kmod

// kernel is the seam between the Loader and the operating system. The real
// implementation (kernel_linux.go) makes the syscalls; tests substitute a
// fake that records calls and forces errno values.
type kernel interface {
	// finitModule loads the module file at path with finit_module(2).
	// Errors are the raw errno (syscall.Errno) or an open error.
	finitModule(path, params string) error
	// initModule loads a module image held in memory with init_module(2).
	// Errors are the raw errno.
	initModule(image []byte, params string) error
	// exists reports whether path exists; the loader asks for
	// <sys>/module/<name>, which the kernel creates for a loaded module.
	exists(path string) bool
}
