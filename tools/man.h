/* man.h: `vae --man` writes the vae(1) manual page in troff from the same flag tables that print each
 * subcommand's --help, so the manual cannot drift from the tool (make installs it as man1/vae.1). */
#ifndef VAE_MAN_H
#define VAE_MAN_H

/** The page's title, name, synopsis and description, up to the first subcommand. */
void vae__man_begin(void);

/** One subcommand's section: its summary, usage line and every flag with its default, from run(--help). */
void vae__man_command(const char *name, const char *summary, int (*run)(int argc, char **argv));

/** Exit status, environment and see-also sections. @return 0 when stdout was written completely, else 1. */
int vae__man_end(void);

#endif /* VAE_MAN_H */
