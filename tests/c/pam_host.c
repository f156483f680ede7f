/* pam_host: a minimal C host program for the PAM module, the way login,
 * su, sudo and screen lockers are: plain C, default signal dispositions
 * (SIGPIPE kills it unless the module avoids raising it), one
 * pam_start_confdir + pam_authenticate + pam_end.
 *
 *   pam_host CONFDIR SERVICE USER [ANSWER...]
 *
 * Each prompt takes the next ANSWER (an empty one when they run out).
 * Messages and prompts are printed as "STYLE:TEXT" lines on stdout, so a
 * test sees what the user would. Exit status: the PAM return code.
 * Rust programs ignore SIGPIPE at start, so a Rust driver could not show
 * whether the module raises it; this one can.
 */
#include <security/pam_appl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct answers {
    char **next;
    int left;
};

static int converse(int n, const struct pam_message **msg,
                    struct pam_response **resp, void *data)
{
    struct answers *a = data;
    struct pam_response *r = calloc((size_t)n, sizeof *r);
    if (r == NULL)
        return PAM_BUF_ERR;
    for (int i = 0; i < n; i++) {
        const char *text = msg[i]->msg ? msg[i]->msg : "";
        switch (msg[i]->msg_style) {
        case PAM_PROMPT_ECHO_OFF:
        case PAM_PROMPT_ECHO_ON:
            printf("%s:%s\n", msg[i]->msg_style == PAM_PROMPT_ECHO_OFF ? "hidden" : "visible", text);
            r[i].resp = strdup(a->left > 0 ? *a->next : "");
            if (a->left > 0) {
                a->next++;
                a->left--;
            }
            if (r[i].resp == NULL) {
                free(r);
                return PAM_BUF_ERR;
            }
            break;
        case PAM_ERROR_MSG:
            printf("error:%s\n", text);
            break;
        default:
            printf("info:%s\n", text);
            break;
        }
    }
    *resp = r;
    return PAM_SUCCESS;
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: pam_host CONFDIR SERVICE USER [ANSWER...]\n");
        return 2;
    }
    struct answers a = {argv + 4, argc - 4};
    struct pam_conv conv = {converse, &a};
    pam_handle_t *pamh = NULL;
    int rc = pam_start_confdir(argv[2], argv[3], &conv, argv[1], &pamh);
    if (rc != PAM_SUCCESS) {
        fprintf(stderr, "pam_start_confdir: %d\n", rc);
        return rc;
    }
    rc = pam_authenticate(pamh, 0);
    fflush(stdout);
    pam_end(pamh, rc);
    return rc;
}
