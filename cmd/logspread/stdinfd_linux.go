package main

import "syscall"

// keepStdin returns a function that puts standard input back at descriptor 0 if a failed
// start closed it (its source closes what it reads), so that a retried start reads the
// same input, never the next file opened (which would take descriptor 0).
func keepStdin() (restore func(), err error) {
	keep, err := syscall.Dup(0)
	if err != nil {
		return nil, err
	}
	syscall.CloseOnExec(keep)
	return func() {
		var st syscall.Stat_t
		if syscall.Fstat(0, &st) == nil {
			return // still open
		}
		syscall.Dup3(keep, 0, 0)
	}, nil
}
