/*
 * builtin.h - the subcommands of the mlfs command, one file each, as git's
 * builtin/.  Each takes the arguments after its name (argv[0] is the name)
 * and returns the process exit status: 0 on success, 1 when it refused or
 * failed (after printing a sentence on stderr), 2 for a usage error.
 */
#ifndef MLFS_BUILTIN_H
#define MLFS_BUILTIN_H

#include <stdbool.h>

struct mlfs_store;

int cmd_init(int argc, char **argv);
int cmd_mount(int argc, char **argv);
int cmd_umount(int argc, char **argv);
int cmd_ls(int argc, char **argv);
int cmd_mkrun(int argc, char **argv);
int cmd_log(int argc, char **argv);
int cmd_rm(int argc, char **argv);
int cmd_register(int argc, char **argv);
int cmd_restore(int argc, char **argv);
int cmd_gc(int argc, char **argv);
int cmd_fsck(int argc, char **argv);
int cmd_stats(int argc, char **argv);

/* The default store and mount point ($MLFS_STORE, $MLFS_MOUNT, else under $HOME). */
void default_store(char *buf, size_t cap);
void default_mount(char *buf, size_t cap);

/* Open a store for a command, printing a sentence on failure. */
int open_store(const char *dir, unsigned flags, struct mlfs_store **ret);

/* True when argv asks for help (-h or --help); prints usage then. */
bool wants_help(int argc, char **argv, const char *usage);

/* Print "usage: ..." to stderr and return 2. */
int usage_error(const char *usage);

#endif
